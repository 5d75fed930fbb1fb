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

package contract_test

import (
	"flag"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

func parse(t *testing.T, args []string) contract.Args {
	t.Helper()
	var a contract.Args
	fs := flag.NewFlagSet("tollgate-sidecar", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("parsing %q left arguments %q", args, fs.Args())
	}
	return a
}

func TestArgsRenderWhatRegisterParses(t *testing.T) {
	none, size := "", 0
	full := contract.Args{
		Policy: "/p/policy.yaml", KeysDir: "/k", UsersFile: "/u/users", Listen: ":8001",
		Upstream: "http://127.0.0.1:8081", MetricsListen: ":9091", RedisURL: "redis://r:6379/2", RedisWaitReplicas: 1,
		TrustedProxies: &none, RecordKeyFile: "/k/record-key", TokenCacheSize: &size,
		ReloadInterval: 3 * time.Second, ShutdownTimeout: time.Minute,
		LogLevel: "debug", LogFormat: "text", OTLPEndpoint: "http://otel-collector:4318", Version: true,
		Mode: contract.ModeAuthorizer, GRPCListen: ":9002",
	}
	if got := parse(t, full.Args()); !reflect.DeepEqual(got, full) {
		t.Errorf("every field set: parsed back\n%+v\nwant\n%+v", got, full)
	}
	// Every field is rendered: a field Args forgets fails here.
	if n, want := len(full.Args()), reflect.TypeOf(full).NumField(); n != want {
		t.Errorf("Args rendered %d flags for %d fields: %q", n, want, full.Args())
	}
}

func TestAnUnsetFieldParsesToTheSidecarsDefault(t *testing.T) {
	got := parse(t, (&contract.Args{Policy: "/p"}).Args())
	want := contract.Args{
		Mode: contract.ModeProxy, Policy: "/p", Listen: contract.DefaultListen, Upstream: contract.DefaultUpstream,
		MetricsListen: contract.DefaultMetricsListen, ReloadInterval: contract.DefaultReloadInterval,
		ShutdownTimeout: contract.DefaultShutdownTimeout, LogLevel: contract.DefaultLogLevel, LogFormat: contract.DefaultLogFormat,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
	}
}

func TestTokenCacheSizeRefusesANegativeSize(t *testing.T) {
	var a contract.Args
	fs := flag.NewFlagSet("tollgate-sidecar", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.Register(fs)
	if err := fs.Parse([]string{"--token-cache-size=-1"}); err == nil {
		t.Error("--token-cache-size=-1 parsed")
	}
}
