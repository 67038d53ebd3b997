#include "base.h"

void thrift__strmap_init(thrift__strmap_t *m, thrift_arena_t *arena) {
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
    m->arena = arena;
}

static void insert_slot(thrift__strmap_entry_t *slots, uint32_t mask,
                        const thrift__strmap_entry_t *e) {
    uint32_t i = (uint32_t)e->hash & mask;
    while (slots[i].key)
        i = (i + 1) & mask;
    slots[i] = *e;
}

static bool grow_to(thrift__strmap_t *m, uint32_t cap) {
    thrift__strmap_entry_t *slots =
        thrift__arena_zalloc(m->arena, sizeof *slots * cap);
    if (!slots)
        return false;
    if (m->slots)
        for (uint32_t i = 0; i <= m->mask; i++)
            if (m->slots[i].key)
                insert_slot(slots, cap - 1, &m->slots[i]);
    m->slots = slots;
    m->mask = cap - 1;
    return true;
}

static bool grow(thrift__strmap_t *m) {
    return grow_to(m, m->slots ? (m->mask + 1) * 2 : 8);
}

bool thrift__strmap_reserve(thrift__strmap_t *m, uint32_t count) {
    /* The capacity put() would reach for `count` entries (load factor at
     * most 1/2), reached in one step: no intermediate tables left behind in
     * the arena and no rehashing. */
    if (count == 0)
        return true;
    if (count > UINT32_MAX / 4)
        return false;
    uint32_t cap = m->slots ? m->mask + 1 : 8;
    while (count * 2 > cap)
        cap *= 2;
    if (m->slots && cap == m->mask + 1)
        return true;
    return grow_to(m, cap);
}

bool thrift__strmap_put(thrift__strmap_t *m, const char *key, size_t key_len,
                        void *value, void **existing, bool *oom) {
    uint64_t h = thrift__hash_bytes(key, key_len);
    if (m->slots) {
        for (uint32_t i = (uint32_t)h & m->mask; m->slots[i].key;
             i = (i + 1) & m->mask) {
            const thrift__strmap_entry_t *e = &m->slots[i];
            if (e->hash == h && e->key_len == key_len &&
                memcmp(e->key, key, key_len) == 0) {
                if (existing)
                    *existing = e->value;
                return false;
            }
        }
    }
    /* Keep the load factor at or below 1/2. */
    if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
        if (!grow(m)) {
            if (oom)
                *oom = true;
            return false;
        }
    }
    thrift__strmap_entry_t e = {key, key_len, h, value};
    insert_slot(m->slots, m->mask, &e);
    m->count++;
    return true;
}

void *thrift__strmap_get(const thrift__strmap_t *m, const char *key,
                         size_t key_len) {
    if (!m->slots)
        return NULL;
    uint64_t h = thrift__hash_bytes(key, key_len);
    for (uint32_t i = (uint32_t)h & m->mask; m->slots[i].key;
         i = (i + 1) & m->mask) {
        const thrift__strmap_entry_t *e = &m->slots[i];
        if (e->hash == h && e->key_len == key_len &&
            memcmp(e->key, key, key_len) == 0)
            return e->value;
    }
    return NULL;
}
