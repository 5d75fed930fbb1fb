/*
Copyright 2026 The tollgate Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package kubeevents

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tollgate-dev/tollgate/internal/testenv"
	"github.com/tollgate-dev/tollgate/internal/testwait"
)

var (
	scheme  = clientgoscheme.Scheme
	cluster *testenv.Cluster
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		_, file, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "kubeevents")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = os.RemoveAll(dir) }()
		if cluster, err = testenv.StartCluster(filepath.Join(filepath.Dir(file), "..", ".."), dir, scheme); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = cluster.Stop() }()
		return m.Run()
	}())
}

func configMap(t *testing.T, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := cluster.Client.Create(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
	return cm
}

// start runs r until the test ends.
func start(t *testing.T, r *Recorder) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// eventsIn waits until ns holds n Events and returns them.
func eventsIn(t *testing.T, ns string, n int) []eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	testwait.For(t, 30*time.Second, fmt.Sprintf("%d Events in %s", n, ns), func() bool {
		if err := cluster.Client.List(t.Context(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		return len(list.Items) >= n
	})
	return list.Items
}

func TestAnEventSaysWhatItIsAboutAndWho(t *testing.T) {
	ns := cluster.Namespace(t, "events")
	regarding, related := configMap(t, ns, "regarding"), configMap(t, ns, "related")
	r := New(cluster.Client, scheme, "tollgate-test", logr.Discard())
	start(t, r)

	r.Eventf(regarding, related, corev1.EventTypeWarning, "Unprotected", "Inject", "pod %s runs without %q", "a", "b")
	got := eventsIn(t, ns, 1)
	if len(got) != 1 {
		t.Fatalf("%d Events, want 1", len(got))
	}
	e := got[0]
	host, _ := os.Hostname()
	checks := []struct{ field, got, want string }{
		{"type", e.Type, corev1.EventTypeWarning},
		{"reason", e.Reason, "Unprotected"},
		{"action", e.Action, "Inject"},
		{"note", e.Note, `pod a runs without "b"`},
		{"reportingController", e.ReportingController, "tollgate-test"},
		{"reportingInstance", e.ReportingInstance, "tollgate-test-" + host},
		{"regarding", e.Regarding.Kind + "/" + e.Regarding.Name + "/" + string(e.Regarding.UID), "ConfigMap/regarding/" + string(regarding.UID)},
	}
	if e.Related == nil {
		t.Fatal("related: none")
	}
	checks = append(checks, struct{ field, got, want string }{"related", e.Related.Kind + "/" + e.Related.Name, "ConfigMap/related"})
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if e.EventTime.IsZero() {
		t.Error("eventTime is not set")
	}
}

func TestARepeatIsWrittenOnceAndADifferentNoteAgain(t *testing.T) {
	ns := cluster.Namespace(t, "events")
	cm := configMap(t, ns, "cm")
	r := New(cluster.Client, scheme, "tollgate-test", logr.Discard())

	r.Eventf(cm, nil, corev1.EventTypeWarning, "Conflict", "Adopt", "name %s is taken", "x")
	r.Eventf(cm, nil, corev1.EventTypeWarning, "Conflict", "Adopt", "name %s is taken", "x")
	r.Eventf(cm, nil, corev1.EventTypeWarning, "Conflict", "Adopt", "name %s is taken", "y")
	if n := len(r.queue); n != 2 {
		t.Fatalf("%d Events queued, want 2: the repeat is not written", n)
	}
	// Past the window the same Event is written again.
	later := time.Now().Add(RepeatWindow + time.Second)
	r.now = func() time.Time { return later }
	r.Eventf(cm, nil, corev1.EventTypeWarning, "Conflict", "Adopt", "name %s is taken", "x")
	if n := len(r.queue); n != 3 {
		t.Fatalf("%d Events queued, want 3: a repeat after %s is written", n, RepeatWindow)
	}
	start(t, r)
	got := eventsIn(t, ns, 3)
	notes := map[string]int{}
	for _, e := range got {
		notes[e.Note]++
	}
	if notes["name x is taken"] != 2 || notes["name y is taken"] != 1 {
		t.Errorf("Events written: %v", notes)
	}
}

// The point of the package: however many Events, it holds no more than its bounds.
func TestManyEventsLeaveOnlyBoundedState(t *testing.T) {
	ns := cluster.Namespace(t, "events")
	cm := configMap(t, ns, "cm")
	r := New(cluster.Client, scheme, "tollgate-test", logr.Discard())
	start(t, r)

	const n = Remembered + 1000
	for i := range n {
		r.Eventf(cm, nil, corev1.EventTypeNormal, "Tick", "Count", "event %d", i)
	}
	if got := len(eventsIn(t, ns, n)); got != n {
		t.Fatalf("%d Events written, want %d", got, n)
	}
	r.mu.Lock()
	remembered := r.recent.Len()
	r.mu.Unlock()
	if remembered > Remembered {
		t.Errorf("%d Events remembered, bound %d", remembered, Remembered)
	}
	if len(r.queue) != 0 {
		t.Errorf("%d Events still queued after all were written", len(r.queue))
	}
}

func TestAFullQueueDropsAnEventAfterWaitingAndForgetsIt(t *testing.T) {
	ns := cluster.Namespace(t, "events")
	cm := configMap(t, ns, "cm")
	r := New(cluster.Client, scheme, "tollgate-full", logr.Discard())
	r.enqueueWait = 50 * time.Millisecond
	for i := range QueueSize {
		r.Eventf(cm, nil, corev1.EventTypeNormal, "Tick", "Count", "event %d", i)
	}
	before := testutil.ToFloat64(dropped.WithLabelValues("tollgate-full", "queue_full"))
	r.Eventf(cm, nil, corev1.EventTypeNormal, "Tick", "Count", "one too many")
	if got := testutil.ToFloat64(dropped.WithLabelValues("tollgate-full", "queue_full")); got != before+1 {
		t.Fatalf("dropped{queue_full} = %v, want %v", got, before+1)
	}
	// Forgotten: once there is room, the same Event is queued.
	<-r.queue
	r.Eventf(cm, nil, corev1.EventTypeNormal, "Tick", "Count", "one too many")
	if n := len(r.queue); n != QueueSize {
		t.Errorf("%d Events queued, want %d: the dropped Event came again and was not queued", n, QueueSize)
	}
}

func TestAnUnreachableAPIServerIsTriedThenGivenUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	c, err := client.New(&rest.Config{Host: "http://" + addr}, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	r := New(c, scheme, "tollgate-unreachable", logr.Discard())
	r.retryWait = time.Millisecond
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm", UID: "u"}}
	r.Eventf(cm, nil, corev1.EventTypeNormal, "Tick", "Count", "lost")
	e := <-r.queue
	r.write(t.Context(), e)
	if got := testutil.ToFloat64(dropped.WithLabelValues("tollgate-unreachable", "unreachable")); got != 1 {
		t.Fatalf("dropped{unreachable} = %v, want 1", got)
	}
	r.Eventf(cm, nil, corev1.EventTypeNormal, "Tick", "Count", "lost")
	if len(r.queue) != 1 {
		t.Error("an Event given up is not queued when it comes again")
	}
}

func TestARefusedEventIsNotTriedAgain(t *testing.T) {
	r := New(cluster.Client, scheme, "tollgate-refused", logr.Discard())
	// The namespace does not exist: the API server refuses the Event.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "no-such-namespace", Name: "cm", UID: "u"}}
	r.Eventf(cm, nil, corev1.EventTypeNormal, "Tick", "Count", "refused")
	r.write(t.Context(), <-r.queue)
	if got := testutil.ToFloat64(dropped.WithLabelValues("tollgate-refused", "rejected")); got != 1 {
		t.Fatalf("dropped{rejected} = %v, want 1", got)
	}
}

func TestUnsupportedTypesAndObjectsWithoutKindAreNotQueued(t *testing.T) {
	r := New(cluster.Client, scheme, "tollgate-test", logr.Discard())
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}}
	r.Eventf(cm, nil, "Critical", "Tick", "Count", "x")
	r.Eventf(&unregistered{}, nil, corev1.EventTypeNormal, "Tick", "Count", "x")
	if n := len(r.queue); n != 0 {
		t.Errorf("%d Events queued, want 0", n)
	}
}

type unregistered struct{ metav1.ObjectMeta }

func (*unregistered) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (u *unregistered) DeepCopyObject() k8sruntime.Object {
	c := *u
	return &c
}

func TestNotesAreCutAtACharacterBoundary(t *testing.T) {
	long := strings.Repeat("é", NoteLimit) // two bytes each
	got := truncate(long, NoteLimit)
	if len(got) != NoteLimit || !strings.HasPrefix(long, got) {
		t.Errorf("cut to %d bytes", len(got))
	}
	odd := "a" + long
	got = truncate(odd, NoteLimit)
	if len(got) != NoteLimit-1 || !strings.HasPrefix(odd, got) {
		t.Errorf("cut to %d bytes, want %d (not inside a character)", len(got), NoteLimit-1)
	}
	if truncate("short", NoteLimit) != "short" {
		t.Error("a short note is changed")
	}
}

// TestAStoppedRecorderDoesNotHoldReconcilesBack: the manager stops its Event writers
// before its controllers, which finish the reconciles under way. An Eventf they make then
// must not wait for room in a queue that nobody drains any more: every such wait would
// hold the manager's shutdown back by EnqueueWait, beyond its grace period.
func TestAStoppedRecorderDoesNotHoldReconcilesBack(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm", UID: "u"}}
	r := New(cluster.Client, scheme, "tollgate-stopped", logr.Discard())
	r.enqueueWait = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range QueueSize {
		r.Eventf(cm, nil, corev1.EventTypeNormal, "Tick", "Count", "event %d", i)
	}
	done := make(chan struct{})
	go func() {
		r.Eventf(cm, nil, corev1.EventTypeNormal, "Tick", "Count", "during shutdown")
		close(done)
	}()
	testwait.For(t, 30*time.Second, "Eventf to return on a stopped Recorder", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if got := testutil.ToFloat64(dropped.WithLabelValues("tollgate-stopped", "queue_full")); got != 1 {
		t.Errorf("dropped{queue_full} = %v, want 1", got)
	}
}

// An object with the longest name the API server allows, and a note its author made
// longer than an Event's (a pod's container image, say): the Event is still written, with
// the note cut.
func TestAnEventAboutAHugeNameWithAHugeNoteIsWritten(t *testing.T) {
	ns := cluster.Namespace(t, "events")
	cm := configMap(t, ns, strings.Repeat("n", 253))
	r := New(cluster.Client, scheme, "tollgate-huge", logr.Discard())
	r.Eventf(cm, nil, corev1.EventTypeWarning, "Unprotected", "Inject", "image %s", strings.Repeat("i", 4*NoteLimit))
	r.write(t.Context(), <-r.queue)
	if got := testutil.ToFloat64(dropped.WithLabelValues("tollgate-huge", "rejected")); got != 0 {
		t.Fatalf("dropped{rejected} = %v, want 0", got)
	}
	e := eventsIn(t, ns, 1)[0]
	if len(e.Note) != NoteLimit || e.Regarding.Name != cm.Name {
		t.Errorf("note of %d bytes about %d-byte name, want %d about %d", len(e.Note), len(e.Regarding.Name), NoteLimit, len(cm.Name))
	}
}
