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
# 2: released, and someone waited for it (told on the unlock channel).
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  if redis.call('del', KEYS[2]) == 1 then
    redis.call('publish', ARGV[2], ARGV[3])
    return 2
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
# bare JID, then triples of full JID, JSON state ('' = gone) and '1' if the
# write makes the resource a new target for messages to the bare JID.
# A node removes only its own entry, and writes none over another node's
# (that resource is being replaced: its node must drop it first). No new
# target is written while another node's resource of the account is
# draining (xmppd.cluster.writer). Returns what was not written: pairs of
# full JID and the node that holds it ('' when waiting for a drain).
WRITE_SESSIONS = """
local me = ARGV[1]
local draining = false
local owners = {}
local all = redis.call('hgetall', KEYS[1])
for i = 1, #all, 2 do
  local state = cjson.decode(all[i + 1])
  owners[all[i]] = state['node']
  if state['node'] ~= me and state['draining'] then
    draining = true
  end
end
local skipped = {}
for i = 4, #ARGV, 3 do
  local full, value, target = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local owner = owners[full]
  if value == '' then
    if owner == me then
      redis.call('hdel', KEYS[1], full)
    end
    redis.call('srem', KEYS[2], full)
  elseif owner and owner ~= me then
    table.insert(skipped, full)
    table.insert(skipped, owner)
  elseif target == '1' and draining then
    table.insert(skipped, full)
    table.insert(skipped, '')
  else
    redis.call('hset', KEYS[1], full, value)
    redis.call('sadd', KEYS[2], full)
  end
end
redis.call('publish', ARGV[2], ARGV[3])
return skipped
"""

# KEYS: sessions hash. ARGV: node, full JID. The resource stopped being a
# target on its node just now; until that node's locked write (and the
# re-routing of what its inbox held for it) no other resource of the
# account becomes a new target.
MARK_DRAINING = """
local current = redis.call('hget', KEYS[1], ARGV[2])
if current then
  local state = cjson.decode(current)
  if state['node'] == ARGV[1] then
    state['draining'] = true
    redis.call('hset', KEYS[1], ARGV[2], cjson.encode(state))
  end
end
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
