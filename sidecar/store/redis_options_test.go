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

package store_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-dev/tollgate/sidecar/store"
)

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		url  string
		want store.RedisOptions
	}{
		{"redis://redis.shop:6379", store.RedisOptions{Addresses: []string{"redis.shop:6379"}}},
		{"redis://redis.shop", store.RedisOptions{Addresses: []string{"redis.shop:6379"}}},
		{"redis://redis.shop:6380/", store.RedisOptions{Addresses: []string{"redis.shop:6380"}}},
		{"redis://redis.shop:6379/3", store.RedisOptions{Addresses: []string{"redis.shop:6379"}, DB: 3}},
		{"rediss://redis.shop:6380", store.RedisOptions{Addresses: []string{"redis.shop:6380"}, TLS: true}},
		{"REDISS://redis.shop", store.RedisOptions{Addresses: []string{"redis.shop:6379"}, TLS: true}},
		{"redis://:s3cret@redis.shop:6379", store.RedisOptions{Addresses: []string{"redis.shop:6379"}, Password: "s3cret"}},
		{"redis://app:s3cret@redis.shop:6379/1", store.RedisOptions{Addresses: []string{"redis.shop:6379"}, Username: "app", Password: "s3cret", DB: 1}},
		{"redis://app@redis.shop", store.RedisOptions{Addresses: []string{"redis.shop:6379"}, Username: "app"}},
		{"redis://app:p%40ss%2Fw%3Ard@redis.shop", store.RedisOptions{Addresses: []string{"redis.shop:6379"}, Username: "app", Password: "p@ss/w:rd"}},
		{"redis://app:p@ss@redis.shop", store.RedisOptions{Addresses: []string{"redis.shop:6379"}, Username: "app", Password: "p@ss"}},
		{"redis://redis.shop?db=2", store.RedisOptions{Addresses: []string{"redis.shop:6379"}, DB: 2}},
		// Sentinels: the userinfo is the data nodes' and the Sentinels' credentials.
		{"redis://app:s3cret@s1:26379/2?master_name=mymaster&addr=s2:26379&addr=s3:26379", store.RedisOptions{
			Addresses: []string{"s1:26379", "s2:26379", "s3:26379"}, MasterName: "mymaster", Username: "app", Password: "s3cret", DB: 2}},
		{"rediss://s1?master_name=m", store.RedisOptions{Addresses: []string{"s1:6379"}, MasterName: "m", TLS: true}},
		// Cluster seeds.
		{"redis://:s3cret@c1:7000?addr=c2:7001&addr=[::1]:7002", store.RedisOptions{
			Addresses: []string{"c1:7000", "c2:7001", "[::1]:7002"}, Password: "s3cret"}},
		{"redis://127.0.0.1:7000", store.RedisOptions{Addresses: []string{"127.0.0.1:7000"}}},
		{"redis://[::1]:6379/2", store.RedisOptions{Addresses: []string{"[::1]:6379"}, DB: 2}},
		{"redis://[::1]", store.RedisOptions{Addresses: []string{"[::1]:6379"}}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := store.ParseRedisURL(tt.url)
			if err != nil {
				t.Fatalf("ParseRedisURL: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRedisURLRefuses(t *testing.T) {
	const password = "hunter2-secret"
	tests := []struct {
		url, why string
	}{
		{"", "no scheme"},
		{"redis.shop:6379", "no scheme"},
		{"http://redis.shop:6379", "scheme"},
		{"unix:///var/run/redis.sock", "scheme"},
		{"redis://", "no host"},
		{"redis://:" + password + "@", "no host"},
		{"redis://:" + password + "@:6379", "no host"},
		{"redis://:" + password + "@redis.shop:0", "port"},
		{"redis://:" + password + "@redis.shop:65536", "port"},
		{"redis://:" + password + "@redis.shop:http", "port"},
		{"redis://:" + password + "@redis.shop:+80", "port"},
		{"redis://:" + password + "@redis.shop/16", "database"},
		{"redis://:" + password + "@redis.shop/-1", "database"},
		{"redis://:" + password + "@redis.shop/db", "database"},
		{"redis://:" + password + "@redis.shop/1/2", "path"},
		{"redis://:" + password + "@redis.shop?db=99", "database"},
		{"redis://:" + password + "@redis.shop?dial_timeout=1s", "query"},
		{"redis://:" + password + "@redis.shop?" + password + "=1", "query"},
		{"redis://:" + password + "@redis.shop?password=" + password + "&master_name=m", "query"},
		{"redis://:" + password + "@redis.shop/0#frag", "fragment"},
		{"redis://:" + password + "%zz@redis.shop", "percent-encoding"},
		{"redis://us%zzer:" + password + "@redis.shop", "percent-encoding"},
		{"redis://:" + password + "@redis shop", "host"},
		{"redis://:" + password + "@a:b:c", "host"},
		{"redis://:" + password + "@[::1", "host"},
		{"redis://:" + password + "@red%is", "percent-encoding"},
		{"redis://app:hun/ter2-secret@redis.shop", "percent-encode"},
		{"redis://app:12/" + password + "@redis.shop", "percent-encode"},
		{"redis://app:" + password + "?x@redis.shop", "percent-encode"},
		{"redis://:" + password + "@s1?master_name=", "master_name"},
		{"redis://:" + password + "@s1?master_name=m&addr=s2", "addr"},
		{"redis://:" + password + "@s1?master_name=m&addr=s2:0", "port"},
		{"redis://:" + password + "@s1?master_name=m&addr=s%20:1", "host"},
		{"redis://:" + password + "@s1/16?master_name=m", "database"},
		{"redis://:" + password + "@c1:7000?addr=c2:7001&db=1", "database"},
		{"redis://:" + password + "@c1:7000/1?addr=c2:7001", "database"},
		{"redis://:" + password + "@c1:7000?addr=" + password, "addr"},
		{"redis://:" + password + "@c1:7000?addr=%zz", "percent-encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := store.ParseRedisURL(tt.url)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not say %q", err, tt.why)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "hunter") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func FuzzParseRedisURL(f *testing.F) {
	for _, s := range []string{
		"redis://redis.shop:6379", "rediss://u:p@h:1/15", "redis://[::1]:6379/0", "redis://:p%41ss@h",
		"redis://a:b@c@d:1", "redis://h/", "redis://h?x=1", "redis://[::1", "redis://:@:", "redis://h:99999",
		"redis://u:p@s1:26379/2?master_name=m&addr=s2:26379", "redis://:p@c1:7000?addr=c2:7001&addr=[::1]:7002",
		"redis://h?db=3", "redis://h?master_name=m&addr=x", "redis://:p/q@h", "redis://h?addr=%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := store.ParseRedisURL(s)
		if err != nil {
			// The password is whatever sits between the first ':' of the userinfo and its
			// last '@'; no part of it long enough to matter may come back.
			if scheme, rest, ok := strings.Cut(s, "://"); ok {
				if at := strings.LastIndex(rest, "@"); at >= 0 {
					if user, pass, ok := strings.Cut(rest[:at], ":"); ok && len(pass) >= 6 && strings.Contains(err.Error(), pass) {
						// The message's own words can spell the password ("redis "): it
						// leaks only if the words go away when the password is replaced.
						_, masked := store.ParseRedisURL(scheme + "://" + user + ":" + maskLike(pass) + rest[at:])
						if masked == nil || !strings.Contains(masked.Error(), pass) {
							t.Fatalf("error %q shows the password %q", err, pass)
						}
					}
				}
			}
			return
		}
		if len(o.Addresses) == 0 || o.DB < 0 || o.DB > 15 || (o.MasterName == "" && len(o.Addresses) > 1 && o.DB != 0) {
			t.Fatalf("ParseRedisURL(%q) = %+v: want an address and a db in [0, 15], 0 with Cluster", s, o)
		}
		c, err := store.NewRedisClient(o)
		if err != nil {
			t.Fatalf("ParseRedisURL(%q) = %+v, which NewRedisClient refuses: %v", s, o, err)
		}
		_ = c.Close()
	})
}

func TestNewRedisClient(t *testing.T) {
	tests := []struct {
		name    string
		opts    store.RedisOptions
		cluster bool
	}{
		{"one address is a single server", store.RedisOptions{Addresses: []string{"redis:6379"}, DB: 2}, false},
		{"a master name makes the addresses Sentinels", store.RedisOptions{Addresses: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", DB: 1}, false},
		{"several addresses without a master name are a Cluster", store.RedisOptions{Addresses: []string{"c1:6379", "c2:6379"}}, true},
		{"TLS", store.RedisOptions{Addresses: []string{"redis:6380"}, TLS: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := store.NewRedisClient(tt.opts)
			if err != nil {
				t.Fatalf("NewRedisClient: %v", err)
			}
			defer c.Close()
			_, isCluster := c.(*redis.ClusterClient)
			if isCluster != tt.cluster {
				t.Errorf("got %T, cluster %v", c, tt.cluster)
			}
		})
	}
}

func TestNewRedisClientRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts store.RedisOptions
	}{
		{"no address", store.RedisOptions{}},
		{"an address without a port", store.RedisOptions{Addresses: []string{"redis"}}},
		{"a URL for an address", store.RedisOptions{Addresses: []string{"redis://:hunter2-secret@redis:6379"}}},
		{"a db out of range", store.RedisOptions{Addresses: []string{"redis:6379"}, DB: 16}},
		{"a db with Redis Cluster", store.RedisOptions{Addresses: []string{"c1:6379", "c2:6379"}, DB: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := store.NewRedisClient(tt.opts)
			if err == nil {
				_ = c.Close()
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// maskLike is a string as long as s of one letter s does not hold.
func maskLike(s string) string {
	for _, c := range "xyzq" {
		if !strings.ContainsRune(s, c) {
			return strings.Repeat(string(c), len(s))
		}
	}
	return strings.Repeat("w", len(s))
}
