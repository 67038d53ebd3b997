"""Shared bits of the binding's tests."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, 'data')
SRC = os.environ.get('DYNTHRIFT_SOURCE_ROOT', os.path.dirname(os.path.dirname(HERE)))
SHARED = os.path.join(os.path.dirname(SRC), 'shared')
BENCH_THRIFT = os.path.join(SHARED, 'bench', 'bench.thrift')
BENCH_PAYLOAD = os.path.join(SHARED, 'bench', 'payload.json')
TYPES_THRIFT = os.path.join(DATA, 'types.thrift')


def have_bench():
    return os.path.exists(BENCH_THRIFT) and os.path.exists(BENCH_PAYLOAD)


def bench_payload(mod):
    """The shared bench Payload as instances of `mod`'s classes (works for
    dynthrift and thriftpy modules alike)."""
    import base64
    import json
    with open(BENCH_PAYLOAD) as f:
        doc = json.load(f)
    users = []
    for u in doc.get('users', []):
        a = u.get('address')
        address = mod.Address(**a) if a else None
        kw = dict(u)
        kw['address'] = address
        kw['status'] = getattr(mod.Status, u['status']) if isinstance(u.get('status'), str) else u.get('status')
        if 'groups' in kw:
            kw['groups'] = set(kw['groups'])
        if 'avatar' in kw:
            kw['avatar'] = base64.b64decode(kw['avatar'])
        users.append(mod.User(**kw))
    return mod.Payload(request_id=doc['request_id'], users=users,
                       meta=doc.get('meta', {}), score=doc.get('score'))


def tool_env():
    """The environment for helper programs (openssl, the thrift compiler,
    sh): without the sanitizer runtime the tests may preload for the
    extension (ThreadSanitizer's crashes a shell it is preloaded into)."""
    env = dict(os.environ)
    env.pop('LD_PRELOAD', None)
    return env
