"""
The Lua scripts the cluster runs in Redis: each one is a check and a write
that must not be split by another node's command.
"""

# KEYS: lock, sessions hash, wanted flag. ARGV: token, ttl ms.
# Taken: {1, HGETALL of the account's sessions} -- the registry as it is at
# the moment the lock is ours, so routing under the lock sees every write
# made under earlier holders. Not taken: {0, the lock's PTTL}, and the
# holder is asked to announce its release.
ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('hgetall', KEYS[2])}
end
redis.call('set', KEYS[3], '1', 'PX', ARGV[2])
return {0, redis.call('pttl', KEYS[1])}
"""

# KEYS: lock, wanted flag. ARGV: token, unlock channel, bare JID.
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  if redis.call('del', KEYS[2]) == 1 then
    redis.call('publish', ARGV[2], ARGV[3])
  end
  return 1
end
return 0
"""

# KEYS: lock. ARGV: token, ttl ms.
RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: sessions hash, node-sessions set. ARGV: node, registry channel,
# bare JID, then pairs of full JID and JSON state ('' = gone). A node
# removes only its own entry: the same full JID may be bound anew on
# another node (which replaced this one's session, RFC 6120 §7.7.2.2).
WRITE_SESSIONS = """
for i = 4, #ARGV, 2 do
  local full, value = ARGV[i], ARGV[i + 1]
  if value == '' then
    local current = redis.call('hget', KEYS[1], full)
    if current and cjson.decode(current)['node'] == ARGV[1] then
      redis.call('hdel', KEYS[1], full)
    end
    redis.call('srem', KEYS[2], full)
  else
    redis.call('hset', KEYS[1], full, value)
    redis.call('sadd', KEYS[2], full)
  end
end
redis.call('publish', ARGV[2], ARGV[3])
return 1
"""

# KEYS: lease, fenced marker, nodes set. ARGV: node, JSON, ttl ms, incarnation.
# 'fenced': survivors declared this node dead and cleaned up after it; it
# must end its sessions rather than come back as if nothing happened.
# 'lost': the lease was gone (expired, or Redis lost its data) but nobody
# cleaned up: renewed now. 'taken': another incarnation holds the name.
RENEW_LEASE = """
if redis.call('exists', KEYS[2]) == 1 then
  return 'fenced'
end
local current = redis.call('get', KEYS[1])
local state = 'ok'
if not current then
  state = 'lost'
elseif cjson.decode(current)['incarnation'] ~= ARGV[4] then
  return 'taken'
end
redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('sadd', KEYS[3], ARGV[1])
return state
"""

# KEYS: cleanup lock, lease. ARGV: cleaner, ttl ms. The dead node's
# cleanup is taken only while its lease is really gone.
TAKE_CLEANUP = """
if redis.call('exists', KEYS[2]) == 1 then
  return 0
end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"""

# KEYS: cleanup lock. ARGV: cleaner, ttl ms.
RENEW_CLEANUP = RENEW

# KEYS: sessions hash. ARGV: dead node, registry channel, bare JID, full JIDs.
# Removes the dead node's entries of one account; returns them (full JID,
# JSON) for the unavailable presence the cleaner sends.
REMOVE_NODE_SESSIONS = """
local removed = {}
for i = 4, #ARGV do
  local current = redis.call('hget', KEYS[1], ARGV[i])
  if current and cjson.decode(current)['node'] == ARGV[1] then
    redis.call('hdel', KEYS[1], ARGV[i])
    table.insert(removed, ARGV[i])
    table.insert(removed, current)
  end
end
redis.call('publish', ARGV[2], ARGV[3])
return removed
"""
