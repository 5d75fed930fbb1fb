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

package store

import "github.com/redis/go-redis/v9"

// The scripts run atomically on the Redis that owns the policy's hash slot. Every key they
// build from the prefix shares the declared keys' hash tag, so they also run on Redis
// Cluster. Times are Unix milliseconds, passed as decimal strings.

// luaLib holds the helpers the scripts share; it is prepended to each of them.
const luaLib = `
-- revocationLua writes a revocation the way decodeRevocation reads it.
local function revocationLua(kind, id, issuedBefore, untl)
  return '{"kind":"' .. kind .. '","id":' .. cjson.encode(id) ..
    ',"issuedBefore":' .. issuedBefore .. ',"until":' .. untl .. '}'
end

-- addRevocation keeps a revocation in the sorted set until it ends and publishes it, with
-- SPUBLISH when pub says so (sharded pub/sub on a Redis 7 Cluster: the channel shares the
-- keys' hash slot), else PUBLISH. The set expires with its last entry, and entries past
-- their end are dropped on every write.
local function addRevocation(revkey, channel, payload, untl, now, pub)
  redis.call('ZREMRANGEBYSCORE', revkey, '-inf', now)
  if tonumber(untl) <= tonumber(now) then return end
  redis.call('ZADD', revkey, untl, payload)
  local last = redis.call('ZRANGE', revkey, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', revkey, last[2])
  if pub == 'SPUBLISH' then
    redis.call('SPUBLISH', channel, payload)
  else
    redis.call('PUBLISH', channel, payload)
  end
end

-- dropFamily deletes every token of a family, spent ones included, and the family's index.
local function dropFamily(prefix, famkey)
  for _, h in ipairs(redis.call('SMEMBERS', famkey)) do
    redis.call('DEL', prefix .. ':rt:' .. h)
  end
  redis.call('DEL', famkey)
end
`

// createScript stores the first token of a family and records the family in the subject's
// index, which keeps it until retention past its end.
// KEYS: token, family, subject.
// ARGV: hash, subject, role, family, parent, iat, exp, now, retention (ms), mac.
// Returns 1, or 0 when another family holds the hash (the same family: a retry, 1).
var createScript = redis.NewScript(luaLib + `
local fam = redis.call('HGET', KEYS[1], 'family')
if fam then
  if fam == ARGV[4] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'subject', ARGV[2], 'role', ARGV[3], 'family', ARGV[4],
  'parent', ARGV[5], 'iat', ARGV[6], 'exp', ARGV[7], 'mac', ARGV[10])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[2], ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[8]) - tonumber(ARGV[9]))
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[4])
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[3], tonumber(last[2]) + tonumber(ARGV[9]))
return 1
`)

// rotateScript spends the old token and stores the next one in its place.
// KEYS: old token, next token, revocations.
// ARGV: prefix, channel, old hash, next hash, next iat, now, reuse interval (ms),
// the old token's mac as the caller verified it, the next token's mac, the publish command.
// Returns {status, subject, role, family, parent, iat, exp} of the old token, status one of
// ok, reused, notfound, changed (the record's mac is not the one verified), taken (the next
// hash exists already).
// A spent token keeps its record until the family ends, with the hash that replaced it in
// "next" and when in "spent": a next hash already stored as its successor is a retry,
// another one within the reuse interval one more successor, and later reuse.
var rotateScript = redis.NewScript(luaLib + `
local t = redis.call('HMGET', KEYS[1], 'subject', 'role', 'family', 'parent', 'iat', 'exp', 'next', 'spent', 'mac')
if not t[3] or tonumber(t[6]) <= tonumber(ARGV[6]) then return {'notfound'} end
if t[9] ~= ARGV[8] then return {'changed'} end
local res = {'ok', t[1], t[2], t[3], t[4], t[5], t[6]}
local parent = redis.call('HGET', KEYS[2], 'parent')
if parent then
  if parent == ARGV[3] then return res end
  return {'taken'}
end
if t[7] then
  if tonumber(ARGV[7]) <= 0 or tonumber(t[8] or '0') + tonumber(ARGV[7]) <= tonumber(ARGV[6]) then
    dropFamily(ARGV[1], ARGV[1] .. ':family:' .. t[3])
    addRevocation(KEYS[3], ARGV[2], revocationLua('sid', t[3], '0', t[6]), t[6], ARGV[6], ARGV[10])
    res[1] = 'reused'
    return res
  end
else
  redis.call('HSET', KEYS[1], 'next', ARGV[4], 'spent', ARGV[6])
end
redis.call('HSET', KEYS[2], 'subject', t[1], 'role', t[2], 'family', t[3],
  'parent', ARGV[3], 'iat', ARGV[5], 'exp', t[6], 'mac', ARGV[9])
redis.call('PEXPIREAT', KEYS[2], t[6])
redis.call('SADD', ARGV[1] .. ':family:' .. t[3], ARGV[4])
return res
`)

// undoRotationScript forgets a successor that was never spent and unspends its parent if
// it was the parent's first successor. KEYS: old token, next token.
// ARGV: prefix, old hash, next hash. Returns 1 when it undid something, else 0.
var undoRotationScript = redis.NewScript(`
local n = redis.call('HMGET', KEYS[2], 'parent', 'family', 'next')
if not n[1] or n[1] ~= ARGV[2] or n[3] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SREM', ARGV[1] .. ':family:' .. n[2], ARGV[3])
if redis.call('HGET', KEYS[1], 'next') == ARGV[3] then
  redis.call('HDEL', KEYS[1], 'next', 'spent')
end
return 1
`)

// revokeFamilyScript: KEYS: family, revocations. ARGV: prefix, channel, family, until, now,
// publish command.
var revokeFamilyScript = redis.NewScript(luaLib + `
dropFamily(ARGV[1], KEYS[1])
addRevocation(KEYS[2], ARGV[2], revocationLua('sid', ARGV[3], '0', ARGV[4]), ARGV[4], ARGV[5], ARGV[6])
return 1
`)

// revokeSubjectScript ends every session in the subject's index (those that ended more
// than retention ago excepted) by sid, and returns their family ids.
// KEYS: subject, revocations. ARGV: prefix, channel, until, now, retention (ms), publish
// command.
var revokeSubjectScript = redis.NewScript(luaLib + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[5]))
local fams = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, fam in ipairs(fams) do
  dropFamily(ARGV[1], ARGV[1] .. ':family:' .. fam)
  addRevocation(KEYS[2], ARGV[2], revocationLua('sid', fam, '0', ARGV[3]), ARGV[3], ARGV[4], ARGV[6])
end
redis.call('DEL', KEYS[1])
return fams
`)

// revokeScript: KEYS: revocations. ARGV: channel, kind, id, issuedBefore, until, now,
// publish command.
var revokeScript = redis.NewScript(luaLib + `
addRevocation(KEYS[1], ARGV[1], revocationLua(ARGV[2], ARGV[3], ARGV[4], ARGV[5]), ARGV[5], ARGV[6], ARGV[7])
return 1
`)

// addAttemptScript counts one attempt, opening a window if none is. KEYS: counter.
// ARGV: window. Returns {count, ms until reset}.
var addAttemptScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// releaseAttemptScript takes one attempt back; DECR keeps the window (the key's TTL). A
// window with more than ARGV[1] ms to run is a later one than the attempt's: it is left
// alone. KEYS: counter. ARGV: the attempt's window's ms left, with slack.
var releaseAttemptScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or ttl > tonumber(ARGV[1]) then return 0 end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 1 then
  redis.call('DEL', KEYS[1])
else
  redis.call('DECR', KEYS[1])
end
return 1
`)

// attemptsScript reads a counter and its remaining window. KEYS: counter.
// Returns {count, ms until reset}.
var attemptsScript = redis.NewScript(`
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {tonumber(n), ttl}
`)
