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

package sidecar

import (
	"bufio"
	"net/http"
	"testing"
	"time"
)

// stream answers with a first line, flushed, and the second only once the test has read the
// first: a proxy that buffers the response would never deliver the first line.
func (a *upstreamApp) stream(w http.ResponseWriter, r *http.Request) {
	if ct := r.URL.Query().Get("ct"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	_, _ = w.Write([]byte("first\n"))
	w.(http.Flusher).Flush()
	select {
	case <-a.release:
	case <-r.Context().Done():
		return
	}
	_, _ = w.Write([]byte("second\n"))
}

// Responses of unknown length (Server-Sent Events, chunked streams) reach the client as the
// app writes them, without the proxy forcing a flush after every write.
func TestResponsesStreamThrough(t *testing.T) {
	for _, ct := range []string{"text/event-stream", "text/plain", ""} {
		t.Run("content type "+ct, func(t *testing.T) {
			h := newHarness(t)
			resp, err := http.Get(h.http.URL + "/public/stream?ct=" + ct)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			lines := make(chan string)
			go func() {
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			// Not a speed assertion: without streaming the first line never comes, and the
			// test would otherwise wait forever.
			select {
			case l := <-lines:
				if l != "first" {
					t.Fatalf("first line %q", l)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the first line did not come through before the app wrote the rest")
			}
			close(h.app.release)
			if l := <-lines; l != "second" {
				t.Fatalf("second line %q", l)
			}
		})
	}
}
