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

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	authv1alpha1 "github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/controller/unprotected"
	"github.com/tollgate-dev/tollgate/internal/testwait"
	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

const (
	nodeNS       = "e2e-shop"
	nodePolicy   = "shop-api"
	operatorNS   = "tollgate-system"
	managerName  = "tollgate-controller-manager"
	tollgateIMG  = "ghcr.io/tollgate-dev/tollgate:dev"
	sidecarPort  = 8000
	idleBudget   = 15 << 20 // DESIGN: sidecar resident memory at idle
	loadedBudget = 40 << 20 // DESIGN: sidecar resident memory under sustained load
)

// TestRealNode installs tollgate as a user would, on a node whose kubelet really runs pods
// (hack/node.sh: kubelet, containerd, runc, CNI bridge, kube-proxy), and drives the sample
// app's two replicas from the node: pod IPs and the Service, sessions shared in Redis,
// a rotation under load with the leader deleted mid-way, a sidecar killed, the memory
// budget, a policy changed under running pods, the unprotected-pod report, garbage
// collection. `make e2e` runs it (root on Linux).
func TestRealNode(t *testing.T) {
	switch {
	case os.Getenv("TOLLGATE_E2E_NODE") != "1":
		t.Skip("the real-node e2e runs under `make e2e` (TOLLGATE_E2E_NODE=1): it starts a kubelet, containerd and iptables rules on this machine")
	case runtime.GOOS != "linux":
		t.Skipf("the real-node e2e needs Linux, this is %s", runtime.GOOS)
	case os.Geteuid() != 0:
		t.Skip("the real-node e2e needs root (mounts, network namespaces, iptables, cgroups)")
	}
	e := startNode(t)
	start := time.Now()
	e.reset()
	if os.Getenv("TOLLGATE_E2E_KEEP_WORKLOAD") != "1" { // =1: left installed, to look at after a run
		t.Cleanup(e.reset)
	}

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"the operator installs from config/default and serves its webhook through its Service", e.deploy},
		{"the workload: a pod from before injection, Redis, the policy, two injected replicas", e.workload},
		{"sessions across pods and through the Service", e.sessions},
		{"rotation under steady load, the leader deleted mid-rotation", e.rotation},
		{"a killed sidecar restarts alone", e.killSidecar},
		{"sidecar memory within DESIGN's budget", e.memory},
		{"a changed policy reaches the running pods; a restart-only change shows in PodsCurrent", e.livePolicy},
		{"a pod created before injection shows in the unprotected-pod report", e.unprotected},
		{"deleting the AuthPolicy garbage-collects its Secret and ConfigMap", e.garbageCollection},
		{"the Helm chart installs with the SDK, injects a pod, and uninstalls", e.helmChart},
	}
	for _, s := range steps {
		began := time.Now()
		ok := t.Run(s.name, s.run)
		t.Logf("timing: %-90s %5.1fs", s.name, time.Since(began).Seconds())
		if !ok {
			e.dumpState(t)
			t.FailNow()
		}
	}
	t.Logf("timing: e2e scenario (without node start) %.1fs", time.Since(start).Seconds())
}

// deploy: make deploy's manifests with the built image; two managers, one leader; the
// webhook configuration carries cert-controller's CA.
func (e *nodeEnv) deploy(t *testing.T) {
	e.shell(t, fmt.Sprintf("%s %s | %s --kubeconfig %s apply --server-side -f -",
		filepath.Join(e.root, "hack", "render-install.sh"), tollgateIMG, e.kubectlPath, e.kubeconfig))
	testwait.Poll(t, 500*time.Millisecond, 3*time.Minute, "the manager Deployment has 2 ready replicas", func() (bool, string) {
		var d appsv1.Deployment
		if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: operatorNS, Name: managerName}, &d); err != nil {
			return false, err.Error()
		}
		return d.Status.ReadyReplicas == 2 && d.Status.UpdatedReplicas == 2, fmt.Sprintf("ready %d/2", d.Status.ReadyReplicas)
	})
	leader := e.leader(t)
	pods := e.managerPods(t)
	if !slices.Contains(pods, leader) {
		t.Fatalf("the leader election lease names %q, not one of the manager pods %v", leader, pods)
	}
	t.Logf("manager pods %v, leader %s", pods, leader)
	testwait.Poll(t, 500*time.Millisecond, time.Minute, "the webhook configuration has a caBundle and points at the Service", func() (bool, string) {
		var cfg struct {
			Webhooks []struct {
				ClientConfig struct {
					CABundle []byte `json:"caBundle"`
					Service  *struct{ Name, Namespace string }
				} `json:"clientConfig"`
			} `json:"webhooks"`
		}
		if err := e.getJSON("mutatingwebhookconfiguration", "", "tollgate-mutating-webhook-configuration", &cfg); err != nil {
			return false, err.Error()
		}
		if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].ClientConfig.Service == nil {
			return false, "no service-mode webhook"
		}
		wh := cfg.Webhooks[0].ClientConfig
		return len(wh.CABundle) > 0 && wh.Service.Name == "tollgate-webhook-service", fmt.Sprintf("service %s, caBundle %d bytes", wh.Service.Name, len(wh.CABundle))
	})
}

// workload: the namespace opts in only after the legacy pod exists; the app's pods then get
// the native sidecar, which is Ready before the app container starts.
func (e *nodeEnv) workload(t *testing.T) {
	e.kubectl(t, "create", "namespace", nodeNS)
	e.kubectl(t, "apply", "-n", nodeNS, "-f", filepath.Join(e.root, "config", "samples", "users_secret.yaml"),
		"-f", filepath.Join(e.root, "hack", "demo", "node", "shop.yaml"))
	e.kubectl(t, "wait", "-n", nodeNS, "--for=condition=Ready", "authpolicy/"+nodePolicy, "--timeout=60s")
	e.kubectl(t, "apply", "-n", nodeNS, "-f", filepath.Join(e.root, "hack", "demo", "node", "legacy.yaml"))
	e.kubectl(t, "label", "namespace", nodeNS, authv1alpha1.InjectionLabel+"=enabled")
	e.kubectl(t, "apply", "-n", nodeNS, "-f", filepath.Join(e.root, "hack", "demo", "node", "app.yaml"))
	testwait.Poll(t, 500*time.Millisecond, 3*time.Minute, "Redis and both shop replicas are available", func() (bool, string) {
		var shop, redis appsv1.Deployment
		if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: nodeNS, Name: "shop"}, &shop); err != nil {
			return false, err.Error()
		}
		if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: nodeNS, Name: "redis"}, &redis); err != nil {
			return false, err.Error()
		}
		return shop.Status.AvailableReplicas == 2 && redis.Status.AvailableReplicas == 1,
			fmt.Sprintf("shop %d/2, redis %d/1", shop.Status.AvailableReplicas, redis.Status.AvailableReplicas)
	})
	pods := e.shopPods(t)
	if len(pods) != 2 {
		t.Fatalf("want 2 shop pods, got %d", len(pods))
	}
	for _, p := range pods {
		if p.Annotations[authv1alpha1.StatusAnnotation] != "injected" {
			t.Errorf("pod %s: annotation %s = %q, want injected", p.Name, authv1alpha1.StatusAnnotation, p.Annotations[authv1alpha1.StatusAnnotation])
		}
		sc, ok := initContainer(p, contract.ContainerName)
		if !ok || sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways || sc.StartupProbe == nil {
			t.Fatalf("pod %s: want init container %s with restartPolicy Always and a startup probe", p.Name, contract.ContainerName)
		}
		if sc.Image != tollgateIMG {
			t.Errorf("pod %s: sidecar image %q, want the manager's own %q", p.Name, sc.Image, tollgateIMG)
		}
		sst, ast := initStatus(p, contract.ContainerName), containerStatus(p, "app")
		if sst == nil || ast == nil || sst.State.Running == nil || ast.State.Running == nil {
			t.Fatalf("pod %s: sidecar and app must both run: %+v %+v", p.Name, sst, ast)
		}
		if sst.Ready == false || sst.Started == nil || !*sst.Started || !ast.Ready {
			t.Errorf("pod %s: sidecar ready=%v started=%v, app ready=%v; want all true", p.Name, sst.Ready, sst.Started, ast.Ready)
		}
		// The kubelet starts the app only once the sidecar's startup probe (/readyz) passed.
		if ast.State.Running.StartedAt.Before(&sst.State.Running.StartedAt) {
			t.Errorf("pod %s: the app started at %s, before its sidecar (%s)", p.Name, ast.State.Running.StartedAt, sst.State.Running.StartedAt)
		}
		t.Logf("pod %s %s: sidecar started %s, app started %s", p.Name, p.Status.PodIP,
			sst.State.Running.StartedAt.Format(time.RFC3339), ast.State.Running.StartedAt.Format(time.RFC3339))
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		for _, p := range pods {
			if code := e.status("GET", fmt.Sprintf("http://%s:9090%s", p.Status.PodIP, path), "", ""); code != http.StatusOK {
				t.Errorf("pod %s: sidecar %s = %d, want 200", p.Name, path, code)
			}
		}
	}
}

// sessions: login, call, 401, 403, refresh, reuse, logout -- across the two pods (sessions in
// Redis) and through the Service.
func (e *nodeEnv) sessions(t *testing.T) {
	pods := e.shopPods(t)
	a, b := podURL(pods[0]), podURL(pods[1])
	svc := e.serviceURL(t, "shop")
	t.Logf("pod A %s, pod B %s, Service %s", a, b, svc)
	// Ready pods are not yet a routed Service: the EndpointSlice and kube-proxy's iptables
	// rules follow asynchronously, and until then the ClusterIP refuses connections.
	testwait.Poll(t, 200*time.Millisecond, time.Minute, "the Service routes to the pods", func() (bool, string) {
		code, body := e.do("GET", svc+"/public/catalog", "", "")
		return code != 0, body
	})

	bob := e.login(t, a, "bob@example.com", "builder")
	for _, base := range []string{a, b, svc} {
		code, body := e.do("GET", base+"/orders", bob.Access, "")
		if code != http.StatusOK || !strings.Contains(body, `"subject":"43"`) || !strings.Contains(body, `"role":"clerk"`) {
			t.Errorf("GET %s/orders with a token from pod A: %d %s; want 200 with subject 43, role clerk", base, code, body)
		}
	}
	e.expect(t, "no token on pod B", http.StatusUnauthorized, "GET", b+"/orders", "", "")
	e.expect(t, "no token through the Service", http.StatusUnauthorized, "GET", svc+"/orders", "", "")
	e.expect(t, "public route without a token", http.StatusOK, "GET", svc+"/public/catalog", "", "")
	e.expect(t, "admin route as a clerk", http.StatusForbidden, "GET", b+"/admin/users", bob.Access, "")
	e.expect(t, "POST /orders as a clerk", http.StatusOK, "POST", a+"/orders", bob.Access, "")

	// Refresh on B the token A issued; the spent one presented again on A revokes the family.
	fresh := e.refresh(t, b, bob.Refresh, http.StatusOK)
	e.refresh(t, a, bob.Refresh, http.StatusUnauthorized)
	e.refresh(t, b, fresh.Refresh, http.StatusUnauthorized)

	// Logout on A is enforced on B (revocations travel through Redis pub/sub).
	alice := e.login(t, a, "alice@example.com", "wonderland")
	e.expect(t, "admin route as admin on pod B", http.StatusOK, "GET", b+"/admin/users", alice.Access, "")
	e.expect(t, "logout on pod A", http.StatusNoContent, "POST", a+"/auth/logout", alice.Access, `{"refreshToken":"`+alice.Refresh+`"}`)
	testwait.Poll(t, 500*time.Millisecond, 10*time.Second, "the logged-out token is refused on pod B", func() (bool, string) {
		code := e.status("GET", b+"/orders", alice.Access, "")
		return code == http.StatusUnauthorized, fmt.Sprintf("status %d", code)
	})
	e.expect(t, "the logged-out token through the Service", http.StatusUnauthorized, "GET", svc+"/orders", alice.Access, "")
	e.refresh(t, b, alice.Refresh, http.StatusUnauthorized)

	// Through the Service only: a whole session.
	carol := e.login(t, svc, "alice@example.com", "wonderland")
	e.expect(t, "a call through the Service", http.StatusOK, "GET", svc+"/admin/users", carol.Access, "")
	e.refresh(t, svc, carol.Refresh, http.StatusOK)
}

// rotation: `tollgate rotate` while a steady load runs through the Service and against both
// pods with tokens from before and after; the leader is deleted while the new key is only
// published. No request may fail, and the published key is the one that activates.
func (e *nodeEnv) rotation(t *testing.T) {
	pods := e.shopPods(t)
	targets := []string{podURL(pods[0]), podURL(pods[1]), e.serviceURL(t, "shop")}
	old := e.policy(t).Status.ActiveKeyID
	if old == "" {
		t.Fatal("the policy has no active key")
	}
	before := e.login(t, targets[2], "bob@example.com", "builder")

	var (
		requests, failures atomic.Int64
		mu                 sync.Mutex
		firstFailures      []string
		tokens             = []string{before.Access}
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				target := targets[(w+i)%len(targets)]
				var code int
				var what string
				if i%20 == 0 { // a fresh login now and then: tokens signed by whichever key is active
					code, what = e.loginStatus(target, &mu, &tokens)
				} else {
					mu.Lock()
					tok := tokens[i%len(tokens)]
					mu.Unlock()
					code, _ = e.callNoFail("GET", target+"/orders", tok)
					what = "GET " + target + "/orders"
				}
				requests.Add(1)
				if code != http.StatusOK {
					failures.Add(1)
					mu.Lock()
					if len(firstFailures) < 10 {
						firstFailures = append(firstFailures, fmt.Sprintf("%s %s: %d", time.Now().Format("15:04:05.000"), what, code))
					}
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	e.runTollgate(t, "rotate", nodePolicy, "-n", nodeNS)
	var next string
	testwait.Poll(t, 500*time.Millisecond, 30*time.Second, "the rotation publishes a next key", func() (bool, string) {
		next = e.policy(t).Status.NextKeyID
		return next != "" && next != old, "next key " + next
	})
	// Mid-rotation: the next key is published, not yet signing. The leader goes.
	leader := e.leader(t)
	e.kubectl(t, "delete", "pod", "-n", operatorNS, leader, "--wait=false")
	t.Logf("rotation: next key %s published; deleted the leader %s", next, leader)
	testwait.Poll(t, 500*time.Millisecond, 2*time.Minute, "the published key becomes the active one", func() (bool, string) {
		active := e.policy(t).Status.ActiveKeyID
		return active == next, "active " + active
	})
	testwait.Poll(t, 500*time.Millisecond, time.Minute, "a new leader among the managers", func() (bool, string) {
		l := e.leader(t)
		return l != "" && l != leader && slices.Contains(e.managerPods(t), l), "leader " + l
	})
	// Tokens signed with the new key, from every pod, validate everywhere; so do older ones.
	testwait.Poll(t, 500*time.Millisecond, 30*time.Second, "logins on both pods sign with the new key", func() (bool, string) {
		for _, target := range targets[:2] {
			if kid := jwtKID(e.login(t, target, "bob@example.com", "builder").Access); kid != next {
				return false, target + " signs with " + kid
			}
		}
		return true, ""
	})
	time.Sleep(5 * time.Second) // the load keeps running on both keys
	close(stop)
	wg.Wait()
	after := e.login(t, targets[0], "bob@example.com", "builder")
	for _, target := range targets {
		e.expect(t, "a token from before the rotation at "+target, http.StatusOK, "GET", target+"/orders", before.Access, "")
		e.expect(t, "a token from after the rotation at "+target, http.StatusOK, "GET", target+"/orders", after.Access, "")
	}
	// No key lost: the retired key stays in the Secret (until its tokens have expired).
	ks := e.keyset(t)
	if !ks[old] || !ks[next] {
		t.Errorf("keys Secret holds %v; want both the retired %s and the active %s", ks, old, next)
	}
	t.Logf("rotation: %d requests under load, %d failed", requests.Load(), failures.Load())
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed during the rotation; first: %v", failures.Load(), requests.Load(), firstFailures)
	}
}

// killSidecar: SIGKILL the sidecar's process through containerd; the kubelet restarts the
// sidecar and leaves the app container alone.
func (e *nodeEnv) killSidecar(t *testing.T) {
	p := e.shopPods(t)[0]
	sst, ast := initStatus(p, contract.ContainerName), containerStatus(p, "app")
	if sst == nil || ast == nil {
		t.Fatal("pod without sidecar or app status")
	}
	tok := e.login(t, podURL(p), "bob@example.com", "builder")
	e.ctr(t, "tasks", "kill", "-s", "SIGKILL", containerID(sst.ContainerID))
	testwait.Poll(t, 500*time.Millisecond, 2*time.Minute, "the sidecar restarted and is ready again", func() (bool, string) {
		var cur corev1.Pod
		if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: nodeNS, Name: p.Name}, &cur); err != nil {
			return false, err.Error()
		}
		s := initStatus(cur, contract.ContainerName)
		return s != nil && s.RestartCount > sst.RestartCount && s.Ready, fmt.Sprintf("restarts %d, ready %v", s.RestartCount, s.Ready)
	})
	var cur corev1.Pod
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: nodeNS, Name: p.Name}, &cur); err != nil {
		t.Fatal(err)
	}
	if a := containerStatus(cur, "app"); a.RestartCount != ast.RestartCount || a.ContainerID != ast.ContainerID {
		t.Errorf("the app container restarted with its sidecar: restarts %d -> %d, id %s -> %s", ast.RestartCount, a.RestartCount, ast.ContainerID, a.ContainerID)
	}
	e.expect(t, "a session from before the kill, on the restarted sidecar", http.StatusOK, "GET", podURL(cur)+"/orders", tok.Access, "")
}

// memory: the sidecar's memory as its container's cgroup accounts it (what the kubelet and
// the OOM killer see), at idle and under load, on the sidecar the previous step restarted
// (fresh, so "idle" is not the heap the rotation's load left behind). The processes' VmRSS,
// which also counts the binary's file pages charged to whoever wrote the image (containerd),
// is logged beside it.
func (e *nodeEnv) memory(t *testing.T) {
	p := e.shopPods(t)[0]
	s := initStatus(p, contract.ContainerName)
	cg, err := memoryCgroup(containerID(s.ContainerID))
	if err != nil {
		t.Fatal(err)
	}
	tok := e.login(t, podURL(p), "bob@example.com", "builder")
	idle, err := readMemory(cg)
	if err != nil {
		t.Fatal(err)
	}
	peak := idle
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				e.callNoFail("GET", podURL(p)+"/orders", tok.Access)
			}
		}()
	}
	for range 30 {
		time.Sleep(300 * time.Millisecond)
		if m, err := readMemory(cg); err == nil {
			peak = peak.max(m)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("sidecar memory at idle: %s", idle)
	t.Logf("sidecar memory, peak under load: %s", peak)
	if idle.cgroup > idleBudget {
		t.Errorf("idle sidecar: %s; budget %d MiB", idle, idleBudget>>20)
	}
	if peak.cgroup > loadedBudget {
		t.Errorf("sidecar under load: %s; budget %d MiB", peak, loadedBudget>>20)
	}
}

// memory is a container's resident memory, three ways.
type memory struct {
	cgroup int64 // charged to its cgroup: anonymous pages plus mapped files (v1 rss+mapped_file, v2 anon+file_mapped)
	vmRSS  int64 // the VmRSS of its processes: also the binary's pages charged elsewhere
	anon   int64 // their RssAnon: heap and stacks
}

func (m memory) max(o memory) memory {
	return memory{cgroup: max(m.cgroup, o.cgroup), vmRSS: max(m.vmRSS, o.vmRSS), anon: max(m.anon, o.anon)}
}

func (m memory) String() string {
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	return fmt.Sprintf("%.1f MiB charged to its cgroup (processes: VmRSS %.1f MiB, of which anonymous %.1f MiB)", mib(m.cgroup), mib(m.vmRSS), mib(m.anon))
}

// readMemory reads the container's memory cgroup and the status of the processes in it.
func readMemory(cg string) (memory, error) {
	var m memory
	b, err := os.ReadFile(filepath.Join(cg, "memory.stat"))
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "rss", "mapped_file", "anon", "file_mapped":
			var n int64
			if _, err := fmt.Sscan(v, &n); err == nil {
				m.cgroup += n
			}
		}
	}
	procs, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		return m, err
	}
	for _, pid := range strings.Fields(string(procs)) {
		status, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
		if err != nil {
			continue // exited meanwhile
		}
		for _, line := range strings.Split(string(status), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || (k != "VmRSS" && k != "RssAnon") {
				continue
			}
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb); err != nil {
				continue
			}
			if k == "VmRSS" {
				m.vmRSS += kb << 10
			} else {
				m.anon += kb << 10
			}
		}
	}
	return m, nil
}

func (e *nodeEnv) unprotected(t *testing.T) {
	testwait.Poll(t, 500*time.Millisecond, time.Minute, "the policy counts the legacy pod as unprotected", func() (bool, string) {
		n := e.policy(t).Status.UnprotectedPods
		return n == 1, fmt.Sprintf("unprotectedPods %d", n)
	})
	out := e.kubectl(t, "get", "events", "-n", nodeNS, "--field-selector", "involvedObject.name=legacy", "-o", "jsonpath={.items[*].reason}")
	if !strings.Contains(out, unprotected.ReasonUnprotectedPod) && !strings.Contains(out, unprotected.ReasonUnprotected) {
		t.Errorf("no Unprotected event on the legacy pod; its events' reasons: %q", out)
	}
}

func (e *nodeEnv) garbageCollection(t *testing.T) {
	e.kubectl(t, "delete", "authpolicy", "-n", nodeNS, nodePolicy, "--wait=false")
	testwait.Poll(t, 500*time.Millisecond, time.Minute, "the keys Secret and the sidecar ConfigMap are garbage-collected", func() (bool, string) {
		var s corev1.Secret
		var cm corev1.ConfigMap
		errS := e.c.Get(e.ctx, types.NamespacedName{Namespace: nodeNS, Name: authv1alpha1.SigningKeysSecretName(nodePolicy)}, &s)
		errC := e.c.Get(e.ctx, types.NamespacedName{Namespace: nodeNS, Name: authv1alpha1.SidecarConfigMapName(nodePolicy)}, &cm)
		return apierrors.IsNotFound(errS) && apierrors.IsNotFound(errC), fmt.Sprintf("secret: %v, configmap: %v", errS, errC)
	})
}

// leader is the manager pod named by the leader-election Lease.
func (e *nodeEnv) leader(t *testing.T) string {
	t.Helper()
	var leases coordinationv1.LeaseList
	if err := e.c.List(e.ctx, &leases); err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Items {
		if l.Namespace == operatorNS && l.Spec.HolderIdentity != nil {
			holder, _, _ := strings.Cut(*l.Spec.HolderIdentity, "_")
			return holder
		}
	}
	return ""
}

func (e *nodeEnv) managerPods(t *testing.T) []string {
	t.Helper()
	var pods corev1.PodList
	if err := e.c.List(e.ctx, &pods); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		if p.Namespace == operatorNS && p.DeletionTimestamp == nil && p.Labels["app.kubernetes.io/component"] == "manager" {
			names = append(names, p.Name)
		}
	}
	return names
}

func (e *nodeEnv) shopPods(t *testing.T) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := e.c.List(e.ctx, &pods); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.Namespace == nodeNS && p.Labels["app.kubernetes.io/name"] == "shop" && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (e *nodeEnv) policy(t *testing.T) *authv1alpha1.AuthPolicy {
	t.Helper()
	var p authv1alpha1.AuthPolicy
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: nodeNS, Name: nodePolicy}, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// keyset: the kids in the keys Secret.
func (e *nodeEnv) keyset(t *testing.T) map[string]bool {
	t.Helper()
	var s corev1.Secret
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: nodeNS, Name: authv1alpha1.SigningKeysSecretName(nodePolicy)}, &s); err != nil {
		t.Fatal(err)
	}
	set, err := keyset.Parse(s.Data[keyset.FileName])
	if err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.KID] = true
	}
	return kids
}

func (e *nodeEnv) serviceURL(t *testing.T, name string) string {
	t.Helper()
	var s corev1.Service
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: nodeNS, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://%s:%d", s.Spec.ClusterIP, s.Spec.Ports[0].Port)
}

func podURL(p corev1.Pod) string { return fmt.Sprintf("http://%s:%d", p.Status.PodIP, sidecarPort) }

func initContainer(p corev1.Pod, name string) (corev1.Container, bool) {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return c, true
		}
	}
	return corev1.Container{}, false
}

func initStatus(p corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.InitContainerStatuses {
		if p.Status.InitContainerStatuses[i].Name == name {
			return &p.Status.InitContainerStatuses[i]
		}
	}
	return nil
}

func containerStatus(p corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// containerID strips the runtime prefix of a status's containerID ("containerd://<id>").
func containerID(s string) string {
	_, id, _ := strings.Cut(s, "://")
	return id
}

// memoryCgroup finds a container's memory cgroup (cgroupfs driver: .../kubepods/<qos>/pod<uid>/<id>).
func memoryCgroup(id string) (string, error) {
	for _, root := range []string{"/sys/fs/cgroup/memory/kubepods", "/sys/fs/cgroup/kubepods"} {
		var found string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == id {
				found = path
				return filepath.SkipAll
			}
			return nil
		})
		if found != "" {
			return found, nil
		}
	}
	return "", fmt.Errorf("no memory cgroup for container %s", id)
}

func (e *nodeEnv) dumpState(t *testing.T) {
	t.Helper()
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"logs", "-n", operatorNS, "deployment/" + managerName, "--tail=40"},
		{"logs", "-n", nodeNS, "deployment/shop", "-c", contract.ContainerName, "--tail=40"},
	} {
		out, _ := e.kubectlNoFail(args...)
		t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
	}
	t.Logf("node logs: %s/logs", e.nodeDir)
}
