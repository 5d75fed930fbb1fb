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

// Command tollgate-sidecar is tollgate's sidecar: it serves login, refresh and logout for one
// AuthPolicy and validates the access token of every request before proxying it to the app.
// It runs in every protected pod, so it links no Kubernetes client (see docs/design.md §1).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/api/v1alpha1"
	"github.com/tollgate-dev/tollgate/internal/version"
	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

type options struct {
	policy          string
	keysDir         string
	usersFile       string
	listen          string
	upstream        string
	metricsListen   string
	redisURL        string
	redisWait       int
	recordKeyFile   string
	tokenCacheSize  int
	trustedProxies  *sidecar.TrustedProxies
	reloadInterval  time.Duration
	shutdownTimeout time.Duration
	logLevel        string
	logFormat       string
	showVersion     bool
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if o.showVersion {
		fmt.Println(version.String("tollgate-sidecar"))
		return
	}
	log, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tollgate-sidecar:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		log.Error("tollgate-sidecar stopped", "error", err)
		os.Exit(1)
	}
}

// parseFlags reads the sidecar's flags as the contract defines them, the ones the
// injector writes among them. Errors are printed to stderr.
func parseFlags(args []string) (options, error) {
	var a contract.Args
	fs := flag.NewFlagSet("tollgate-sidecar", flag.ContinueOnError)
	a.Register(fs)
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{
		policy: a.Policy, keysDir: a.KeysDir, usersFile: a.UsersFile,
		listen: a.Listen, upstream: a.Upstream, metricsListen: a.MetricsListen,
		redisURL: a.RedisURL, redisWait: a.RedisWaitReplicas, recordKeyFile: a.RecordKeyFile, tokenCacheSize: sidecar.DefaultTokenCacheSize,
		reloadInterval: a.ReloadInterval, shutdownTimeout: a.ShutdownTimeout,
		logLevel: a.LogLevel, logFormat: a.LogFormat, showVersion: a.Version,
	}
	if a.TokenCacheSize != nil {
		o.tokenCacheSize = *a.TokenCacheSize
	}
	if a.TrustedProxies != nil {
		tp, err := parseTrustedProxiesFlag(*a.TrustedProxies)
		if err != nil {
			err = fmt.Errorf("invalid value %q for flag -trusted-proxies: %w", *a.TrustedProxies, err)
			fmt.Fprintln(fs.Output(), err)
			fs.Usage()
			return options{}, err
		}
		o.trustedProxies = &tp
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(fs.Output(), err)
		return options{}, err
	}
	return o, nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not json or text", format)
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	if o.policy == "" {
		return errors.New("--policy is required")
	}
	policy, err := sidecar.LoadPolicy(o.policy)
	if err != nil {
		return err
	}
	log = log.With("policy", policy.Key())
	upstream, err := url.Parse(o.upstream)
	if err != nil || (upstream.Scheme != "http" && upstream.Scheme != "https") || upstream.Host == "" {
		return fmt.Errorf("--upstream %q: must be an http(s) URL", o.upstream)
	}

	keys, err := loadKeys(o, policy, log)
	if err != nil {
		return err
	}
	auth, users, disabled, err := loadAuthenticator(o, policy, log)
	if err != nil {
		return err
	}
	st, err := openStore(o, policy, log)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()

	srv, err := sidecar.NewServer(sidecar.Config{
		Policy: policy, Keys: keys, Store: st, Upstream: upstream,
		Authenticator: auth, LoginDisabled: disabled, Users: users,
		TrustedProxies: o.trustedProxies, TokenCacheSize: o.tokenCacheSize, Log: log,
	})
	if err != nil {
		return err
	}
	srv.Start(ctx)
	if o.keysDir != "" {
		keys.OnChange = func(_, _ *keyset.Keyset) { srv.Metrics().Reloads.WithLabelValues("keys", "ok").Inc() }
		go keys.Watch(ctx, o.keysDir, o.reloadInterval, log, func() {
			srv.Metrics().Reloads.WithLabelValues("keys", "rejected").Inc()
		})
	}
	go srv.WatchPolicy(ctx, o.policy, o.reloadInterval)
	if users != nil {
		go sidecar.WatchUsers(ctx, o.usersFile, users, o.reloadInterval, log, srv.Metrics())
	}

	mainLn, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	opsLn, err := net.Listen("tcp", o.metricsListen)
	if err != nil {
		mainLn.Close()
		return fmt.Errorf("--metrics-listen: %w", err)
	}
	mainSrv := sidecar.NewHTTPServer(o.listen, srv.Handler())
	opsSrv := sidecar.NewHTTPServer(o.metricsListen, srv.OpsHandler())
	errc := make(chan error, 2)
	go func() { errc <- mainSrv.Serve(mainLn) }()
	go func() { errc <- opsSrv.Serve(opsLn) }()
	log.Info("tollgate-sidecar serving", "version", version.Version, "listen", mainLn.Addr().String(),
		"metrics", opsLn.Addr().String(), "upstream", upstream.String(), "algorithm", policy.Spec.Signing.Algorithm)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stop accepting, let in-flight requests finish, then stop the metrics port last so the
	// kubelet's probes see the sidecar until the end.
	log.Info("shutting down: draining in-flight requests", "timeout", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	err = mainSrv.Shutdown(sctx)
	_ = opsSrv.Shutdown(sctx)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("draining: %w", err)
	}
	log.Info("stopped")
	return nil
}

// parseTrustedProxiesFlag reads --trusted-proxies: "10.0.0.0/8, 192.0.2.7"; "" trusts none.
func parseTrustedProxiesFlag(v string) (sidecar.TrustedProxies, error) {
	var list []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			list = append(list, p)
		}
	}
	return sidecar.ParseTrustedProxies(list)
}

func loadKeys(o options, policy *v1alpha1.AuthPolicy, log *slog.Logger) (*sidecar.Keys, error) {
	if o.keysDir != "" {
		keys, err := sidecar.LoadKeysDir(o.keysDir)
		if err != nil {
			return nil, fmt.Errorf("--keys-dir: %w", err)
		}
		return keys, nil
	}
	keys, err := sidecar.EphemeralKeys(keyset.Algorithm(policy.Spec.Signing.Algorithm), time.Now())
	if err != nil {
		return nil, err
	}
	log.Warn("no --keys-dir: signing with one ephemeral key generated at start; tokens will not survive a restart and other replicas will not accept them")
	return keys, nil
}

func loadAuthenticator(o options, policy *v1alpha1.AuthPolicy, log *slog.Logger) (sidecar.Authenticator, *sidecar.UserDB, string, error) {
	login := policy.Spec.Login
	switch {
	case o.usersFile != "":
		users, err := sidecar.LoadUsers(o.usersFile)
		if err != nil {
			return nil, nil, "", fmt.Errorf("--users-file: %w", err)
		}
		db := sidecar.NewUserDB(users)
		log.Info("login against the users file", "users", users.Len())
		return db, db, "", nil
	case login.VerifyURL != "":
		log.Info("login delegated to spec.login.verifyURL")
		return sidecar.NewVerifyURL(login.VerifyURL), nil, "", nil
	case login.UsersSecretRef != nil:
		return nil, nil, "", fmt.Errorf("spec.login.usersSecretRef names Secret %q: pass its `users` file with --users-file", login.UsersSecretRef.Name)
	}
	const why = "login is not configured for this policy: set spec.login.usersSecretRef or spec.login.verifyURL (tokens are still validated)"
	log.Info(why)
	return nil, nil, why, nil
}
