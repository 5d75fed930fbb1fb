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

// Package command is the command line of the binaries built on the sidecar: tollgate-sidecar,
// which serves login, refresh and logout for one AuthPolicy and validates the access token of
// every request before proxying it to the app, and tollgate-authorizer, which answers
// gateways' checks instead (with gRPC). It links no Kubernetes client and no gRPC: the
// sidecar runs in every protected pod (see docs/design.md §1).
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/api/v1alpha1/spec"
	"github.com/tollgate-dev/tollgate/internal/version"
	"github.com/tollgate-dev/tollgate/keyset"
	"github.com/tollgate-dev/tollgate/sidecar"
	"github.com/tollgate-dev/tollgate/sidecar/contract"
)

// Command is one binary built on the sidecar.
type Command struct {
	Name string
	// DefaultMode is the default of --mode: contract.ModeProxy or contract.ModeAuthorizer.
	DefaultMode string
	// GRPC, when set, serves the gRPC check service on ln until ctx ends, then drains
	// within drain (tollgate-authorizer, --grpc-listen). nil: the binary has none.
	GRPC func(ctx context.Context, ln net.Listener, srv *sidecar.Server, drain time.Duration) error
}

// Sidecar is tollgate-sidecar.
var Sidecar = Command{Name: contract.Command, DefaultMode: contract.ModeProxy}

type options struct {
	name            string
	mode            string
	grpcListen      string
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
	otlpEndpoint    string
	showVersion     bool
}

// Main runs the command with the process's arguments and exits.
func (c Command) Main() {
	o, err := c.parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if o.showVersion {
		fmt.Println(version.String(c.Name))
		return
	}
	log, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, c.Name+":", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := c.run(ctx, o, log); err != nil {
		log.Error(c.Name+" stopped", "error", err)
		os.Exit(1)
	}
}

// parseFlags reads the sidecar's flags as the contract defines them, the ones the
// injector writes among them. Errors are printed to stderr.
func (c Command) parseFlags(args []string) (options, error) {
	a := contract.Args{Mode: c.DefaultMode}
	if c.GRPC != nil {
		a.GRPCListen = contract.DefaultGRPCListen
	}
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	a.Register(fs)
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if err := c.checkMode(fs, &a); err != nil {
		fmt.Fprintln(fs.Output(), err)
		return options{}, err
	}
	o := options{
		name: c.Name, mode: a.Mode, grpcListen: a.GRPCListen,
		policy: a.Policy, keysDir: a.KeysDir, usersFile: a.UsersFile,
		listen: a.Listen, upstream: a.Upstream, metricsListen: a.MetricsListen,
		redisURL: a.RedisURL, redisWait: a.RedisWaitReplicas, recordKeyFile: a.RecordKeyFile, tokenCacheSize: sidecar.DefaultTokenCacheSize,
		reloadInterval: a.ReloadInterval, shutdownTimeout: a.ShutdownTimeout,
		logLevel: a.LogLevel, logFormat: a.LogFormat, showVersion: a.Version, otlpEndpoint: a.OTLPEndpoint,
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

func (c Command) run(ctx context.Context, o options, log *slog.Logger) error {
	if o.policy == "" {
		return errors.New("--policy is required")
	}
	policy, err := sidecar.LoadPolicy(o.policy)
	if err != nil {
		return err
	}
	log = log.With("policy", policy.Key())
	upstream, err := parseUpstream(o)
	if err != nil {
		return err
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
	handler := srv.Handler()
	if upstream == nil {
		handler = srv.AuthorizerHandler()
	}
	handler, stopTracing, err := traced(ctx, o, policy, handler, srv, log)
	if err != nil {
		mainLn.Close()
		opsLn.Close()
		return err
	}
	defer stopTracing()
	mainSrv := sidecar.NewHTTPServer(o.listen, handler)
	mainSrv.Protocols = srv.Protocols()
	opsSrv := sidecar.NewHTTPServer(o.metricsListen, srv.OpsHandler())
	errc := make(chan error, 3)
	go func() { errc <- mainSrv.Serve(mainLn) }()
	go func() { errc <- opsSrv.Serve(opsLn) }()
	grpcDone, err := c.serveGRPC(ctx, o, srv, errc)
	if err != nil {
		mainLn.Close()
		opsLn.Close()
		return err
	}
	log.Info(c.Name+" serving", "version", version.Version, "mode", o.mode, "listen", mainLn.Addr().String(),
		"metrics", opsLn.Addr().String(), "grpc", o.grpcListen, "upstream", upstreamString(upstream), "algorithm", policy.Spec.Signing.Algorithm)

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
	<-grpcDone
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

func loadKeys(o options, policy *spec.Policy, log *slog.Logger) (*sidecar.Keys, error) {
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

func loadAuthenticator(o options, policy *spec.Policy, log *slog.Logger) (sidecar.Authenticator, *sidecar.UserDB, string, error) {
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
