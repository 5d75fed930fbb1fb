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

// Command app is the demo's upstream: an HTTP server that knows nothing about tokens and
// answers every request with the path and the identity headers the sidecar set.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"time"
)

type echo struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Subject string `json:"subject"`
	Role    string `json:"role"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	flag.Parse()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{
			Method:  r.Method,
			Path:    r.URL.Path,
			Subject: r.Header.Get("X-Auth-Subject"),
			Role:    r.Header.Get("X-Auth-Role"),
		})
	})
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("demo app listening on %s", *listen)
	log.Fatal(srv.ListenAndServe())
}
