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

// Package kubeevents writes the manager's Kubernetes Events (events.k8s.io/v1) with memory
// bounded by a constant, whatever the number of objects they are about.
//
// client-go's events broadcaster, which controller-runtime's GetEventRecorder uses, keeps
// every Event it sent for 6 to 12 minutes, to fold repeats into a series: with 10,000
// policies created at once, or 10,000 pods reported, that cache was a quarter of the
// manager's heap. A Recorder keeps instead a bounded queue of Events still to write and
// the 64-bit hashes of those written in the last RepeatWindow, so that a repeat (the same
// note on the same object, as a retried reconcile makes) is written once.
package kubeevents

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record/util"
	"k8s.io/client-go/tools/reference"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

const (
	// QueueSize bounds the Events waiting to be written, as client-go bounds its own.
	QueueSize = 1000
	// EnqueueWait is how long Eventf waits for room in a full queue before it drops the
	// Event: a burst slows the reconciler that makes it instead of growing memory.
	EnqueueWait = 5 * time.Second
	// RepeatWindow is how long an Event is remembered, so that a repeat is not written.
	RepeatWindow = 10 * time.Minute
	// Remembered bounds the hashes of recent Events.
	Remembered = 4096
	// Writers is how many Events are written at once: as many as the requests a loaded API
	// server answers slowly while the reconcilers go on (client-go's broadcaster sends each
	// Event from a goroutine of its own).
	Writers = 16
	// NoteLimit is the longest note the API server accepts, in bytes.
	NoteLimit = 1024
	// tries is how often an Event is sent before it is given up, when the API server
	// cannot be reached or answers with a server error.
	tries = 4
)

// dropped counts the Events given up, by controller and why.
var dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tollgate_events_dropped_total",
	Help: "Kubernetes Events the manager did not write: the queue stayed full (queue_full) or the API server refused or could not be reached (rejected, unreachable).",
}, []string{"controller", "reason"})

// queued is how many Events wait to be written, by controller.
var queued = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "tollgate_events_queued",
	Help: "Kubernetes Events waiting to be written (at most 1000 per controller).",
}, []string{"controller"})

func init() { ctrlmetrics.Registry.MustRegister(dropped, queued) }

// Recorder writes the Events of one controller. It is a recorder.EventRecorder; Start
// writes what Eventf queued.
type Recorder struct {
	client     client.Client
	scheme     *runtime.Scheme
	controller string
	instance   string
	log        logr.Logger
	now        func() time.Time
	// enqueueWait is EnqueueWait, and retryWait the first wait before an Event is sent
	// again; tests shorten them.
	enqueueWait, retryWait time.Duration

	queue chan *eventsv1.Event
	// stopped is closed when Start returns: nothing drains the queue any more.
	stopped chan struct{}

	mu     sync.Mutex
	recent *lru.Cache // hash of an Event's content -> time.Time it was queued
	seed   maphash.Seed
}

var _ recorder.EventRecorder = (*Recorder)(nil)

// NewRecorder makes the Recorder of controller, writing with mgr's client, and adds it to mgr so
// that it writes while the manager runs.
func NewRecorder(mgr manager.Manager, controller string) (*Recorder, error) {
	r := New(mgr.GetClient(), mgr.GetScheme(), controller, mgr.GetLogger().WithName("events"))
	if err := mgr.Add(r); err != nil {
		return nil, fmt.Errorf("adding the Event recorder of %s: %w", controller, err)
	}
	return r, nil
}

// New makes the Recorder of controller, writing with c once started.
func New(c client.Client, scheme *runtime.Scheme, controller string, log logr.Logger) *Recorder {
	host, _ := os.Hostname()
	instance := controller + "-" + host
	if len(instance) > 128 { // the API server's limit
		instance = instance[:128]
	}
	return &Recorder{
		client: c, scheme: scheme, controller: controller, instance: instance, log: log,
		now:         time.Now,
		enqueueWait: EnqueueWait, retryWait: time.Second,
		queue:   make(chan *eventsv1.Event, QueueSize),
		stopped: make(chan struct{}),
		recent:  lru.New(Remembered),
		seed:    maphash.MakeSeed(),
	}
}

// Eventf queues an Event about regarding (and related, which may be nil).
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.AnnotatedEventf(regarding, related, nil, eventtype, reason, action, note, args...)
}

// AnnotatedEventf queues an Event with annotations.
func (r *Recorder) AnnotatedEventf(regarding, related runtime.Object, annotations map[string]string, eventtype, reason, action, note string, args ...any) {
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		r.log.Error(nil, "Event not written: unsupported type", "type", eventtype, "reason", reason)
		return
	}
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		r.log.Error(err, "Event not written: no reference to its object", "reason", reason)
		return
	}
	var relatedRef *corev1.ObjectReference
	if related != nil {
		if relatedRef, err = reference.GetReference(r.scheme, related); err != nil {
			r.log.V(1).Info("Event written without its related object", "reason", reason, "error", err.Error())
		}
	}
	now := r.now()
	namespace := ref.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	e := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:        util.GenerateEventName(ref.Name, now.UnixNano()),
			Namespace:   namespace,
			Annotations: annotations,
		},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             relatedRef,
		Note:                truncate(fmt.Sprintf(note, args...), NoteLimit),
		Type:                eventtype,
	}
	if r.repeat(e, now) {
		return
	}
	select {
	case r.queue <- e:
		queued.WithLabelValues(r.controller).Inc()
		return
	default:
	}
	t := time.NewTimer(r.enqueueWait)
	defer t.Stop()
	select {
	case r.queue <- e:
		queued.WithLabelValues(r.controller).Inc()
		return
	case <-t.C:
	case <-r.stopped:
		// The manager stops its writers before its controllers: a full queue stays full,
		// and waiting would hold back the reconciles that its shutdown waits for.
	}
	r.forget(e)
	dropped.WithLabelValues(r.controller, "queue_full").Inc()
	r.log.Info("Event not written: the queue stayed full", "reason", reason, "object", klogRef(ref))
}

// repeat reports whether an Event like e was queued in the last RepeatWindow, and
// remembers e otherwise.
func (r *Recorder) repeat(e *eventsv1.Event, now time.Time) bool {
	key := r.key(e)
	r.mu.Lock()
	defer r.mu.Unlock()
	if at, ok := r.recent.Get(key); ok && now.Sub(at.(time.Time)) < RepeatWindow {
		return true
	}
	r.recent.Add(key, now)
	return false
}

// forget lets an Event that was not written be written when it comes again.
func (r *Recorder) forget(e *eventsv1.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recent.Remove(r.key(e))
}

// key hashes what makes two Events the same: the objects, what happened, and the note.
func (r *Recorder) key(e *eventsv1.Event) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	for _, s := range []string{
		e.Type, e.Reason, e.Action, e.Note,
		e.Regarding.Kind, e.Regarding.Namespace, e.Regarding.Name, string(e.Regarding.UID), e.Regarding.FieldPath,
	} {
		_, _ = h.WriteString(s)
		_ = h.WriteByte(0)
	}
	if e.Related != nil {
		for _, s := range []string{e.Related.Kind, e.Related.Namespace, e.Related.Name, string(e.Related.UID)} {
			_, _ = h.WriteString(s)
			_ = h.WriteByte(0)
		}
	}
	// Annotations in any order: each pair hashed alone, the hashes added.
	var pairs uint64
	for k, v := range e.Annotations {
		pairs += maphash.String(r.seed, k+"\x00"+v)
	}
	_ = binary.Write(&h, binary.LittleEndian, pairs)
	return h.Sum64()
}

// Start writes the queued Events until ctx ends. Once it has returned, an Eventf that
// finds the queue full drops its Event at once.
func (r *Recorder) Start(ctx context.Context) error {
	defer close(r.stopped)
	var wg sync.WaitGroup
	for range Writers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-r.queue:
					queued.WithLabelValues(r.controller).Dec()
					r.write(ctx, e)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection is false: a replica that is not the leader writes the Events its
// webhook makes.
func (r *Recorder) NeedLeaderElection() bool { return false }

// write creates e, trying again a few times while the API server cannot be reached.
func (r *Recorder) write(ctx context.Context, e *eventsv1.Event) {
	wait := r.retryWait
	for try := 1; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := r.client.Create(cctx, e)
		cancel()
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return
		case ctx.Err() != nil:
			return
		case !retriable(err):
			dropped.WithLabelValues(r.controller, "rejected").Inc()
			r.log.Error(err, "Event not written: the API server refused it", "reason", e.Reason, "object", klogRef(&e.Regarding))
			return
		case try == tries:
			r.forget(e)
			dropped.WithLabelValues(r.controller, "unreachable").Inc()
			r.log.Error(err, "Event not written: the API server could not be reached", "reason", e.Reason, "object", klogRef(&e.Regarding))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
		e.ResourceVersion = ""
	}
}

// retriable: the API server could not be reached, or failed in a way that may pass.
func retriable(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true // connection refused, timeout, ...
	}
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsUnexpectedServerError(err)
}

func klogRef(ref *corev1.ObjectReference) string {
	if ref.Namespace == "" {
		return ref.Kind + "/" + ref.Name
	}
	return ref.Kind + "/" + ref.Namespace + "/" + ref.Name
}

// truncate cuts s to at most n bytes, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
