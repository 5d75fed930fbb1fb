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

package command

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
	"github.com/tollgate-dev/tollgate/sidecar/store"
)

// openStore opens the store --redis-url or spec.store names; with neither, the memory store.
func openStore(o options, policy *spec.Policy, log *slog.Logger) (store.Store, error) {
	var ro store.RedisOptions
	switch r := policy.Spec.Store.Redis; {
	case o.redisURL != "":
		var err error
		if ro, err = store.ParseRedisURL(o.redisURL); err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
	case r != nil:
		ro = store.RedisOptions{Addresses: r.Addresses, MasterName: r.MasterName, DB: int(r.DB), TLS: r.TLS, Username: r.Username}
	default:
		log.Info("in-memory store: refresh tokens, revocations and login counters are per-process; use spec.store.redis for several replicas")
		return store.NewMemory(), nil
	}
	key, err := recordKey(o, log)
	if err != nil {
		return nil, err
	}
	redis.SetLogger(redisLogger{log: log})
	if ro.Password == "" {
		ro.Password = os.Getenv(contract.RedisPasswordEnv)
	}
	ro.WaitReplicas = o.redisWait
	if r := policy.Spec.Store.Redis; ro.WaitReplicas == 0 && r != nil {
		ro.WaitReplicas = int(r.WaitReplicas) // the flag, when set, overrides the policy
	}
	st, err := store.OpenRedis(ro, policy.Key(), store.WithLogger(log), store.WithRecordKey(key))
	if err != nil {
		return nil, err
	}
	log.Info("redis store", "addresses", ro.Addresses, "sentinel", ro.MasterName != "", "tls", ro.TLS, "waitReplicas", ro.WaitReplicas)
	return st, nil
}

// recordKey is the key that authenticates the policy's refresh token records in Redis:
// --record-key-file, else record-key in --keys-dir (the operator keeps it in the keys
// Secret), else, with neither, one generated at start like the ephemeral signing key.
// Every replica must have the same one, so a --keys-dir without it is an error rather than
// a key only this process knows.
func recordKey(o options, log *slog.Logger) ([]byte, error) {
	switch {
	case o.recordKeyFile != "":
		k, err := sidecar.LoadRecordKey(o.recordKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--record-key-file: %w", err)
		}
		return k, nil
	case o.keysDir != "":
		k, err := sidecar.LoadRecordKey(filepath.Join(o.keysDir, keyset.RecordKeyFileName))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--keys-dir %s holds no %s, which the Redis store needs to authenticate its records "+
				"(the operator writes it into the keys Secret; for keys you bring, write 32 random bytes in base64 there, "+
				"e.g. `head -c 32 /dev/urandom | base64`, or pass --record-key-file)", o.keysDir, keyset.RecordKeyFileName)
		}
		if err != nil {
			return nil, fmt.Errorf("--keys-dir: %w", err)
		}
		return k, nil
	}
	log.Warn("no --keys-dir or --record-key-file: refresh token records in Redis are authenticated with a key generated at start; other replicas and this sidecar after a restart refuse its sessions")
	return keyset.GenerateRecordKey(), nil
}

// redisLogger sends go-redis's own messages (a failed dial per retry during an outage) to
// debug: the sidecar already reports store trouble once, in its log, /readyz and metrics.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
