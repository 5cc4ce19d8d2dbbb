#!/usr/bin/python3
"""scenarios/schema.json against the scenario reader.

Usage: /usr/bin/python3 test_schema.py <path-to-vmemsim-binary> <source-dir>
Exit 0 = pass, 1 = fail, 77 = skipped (python3-jsonschema is not installed).

Checks:
  1. schema.json is a valid draft 2020-12 schema;
  2. every scenarios/*.json (but schema.json) validates against it, and `vmemsim validate` accepts it;
  3. every key of each example's resolved scenario (`vmemsim validate --print`) is declared in the
     schema at that place, the resolved scenario itself validates against the schema and is accepted
     again by `vmemsim validate` (the resolved scenario is a valid input);
  4. mutations of the examples (unknown key at several depths, wrong type, bad unit, out of range,
     bad enum, missing required key, structural and cross-field rules) are rejected by BOTH the
     schema and `vmemsim validate`, which must exit 2 and print `file:/json/pointer: ` for the
     right pointer; rules JSON Schema cannot express (READER_ONLY) are checked on the reader alone,
     and the schema must still accept those documents (it is not stricter than it claims);
  5. other spellings and combinations the reader accepts (units with spaces, unit-less strings, µs,
     null for an optional key, a policy's optional keys, ...) are accepted by both;
  6. the schema's `default`s equal the defaults the reader fills into minimal scenarios (every
     generator, every VMM policy, every tier kind, every kernel daemon), and the registries match
     `vmemsim list`/`describe`: the workload `type` enum and each generator's keys and defaults,
     the VMM `policy` enum and each policy's keys and defaults, the tier `kind` enum, the tier keys
     a policy lists and each kind's own keys and defaults (one if/then branch per kind in
     $defs/tier), the kernel.variant enum, and every registered kernel daemon's kernel.<name>
     object (its keys and defaults against `vmemsim describe <name>`; no other kernel section).

A mutation's base is an example's file name, or (file name, ((pointer, value), ...)) to apply
some changes first. Like `vmemsim --set`, a mutation creates missing objects on its way.
"""
import copy
import glob
import json
import math
import os
import re
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    print("SKIP: python3-jsonschema is not installed")
    sys.exit(77)

DEL = object()  # a mutation value: delete the key


class Checks:
    def __init__(self):
        self.failures = []
        self.count = 0

    def ok(self, cond, what, detail=""):
        self.count += 1
        if cond:
            print(f"  ok    {what}")
        else:
            print(f"  FAIL  {what}" + (f"\n        {detail}" if detail else ""))
            self.failures.append(what)
        return cond


# ---- JSON pointers ----

def ptr_tokens(ptr):
    if ptr == "":
        return []
    assert ptr.startswith("/"), ptr
    return [t.replace("~1", "/").replace("~0", "~") for t in ptr[1:].split("/")]


def ptr_join(ptr, token):
    return ptr + "/" + str(token).replace("~", "~0").replace("/", "~1")


def mutate(doc, ptr, value):
    """Sets (or with DEL deletes) the value at `ptr`. As `vmemsim --set` does, missing objects on
    the way are created; array elements must exist."""
    d = copy.deepcopy(doc)
    toks = ptr_tokens(ptr)
    cur = d
    for t in toks[:-1]:
        if isinstance(cur, dict) and t not in cur:
            cur[t] = {}
        cur = cur[int(t)] if isinstance(cur, list) else cur[t]
    last = toks[-1]
    if isinstance(cur, list) and value is DEL:
        del cur[int(last)]
    elif isinstance(cur, list):
        cur[int(last)] = value
    elif value is DEL:
        del cur[last]
    else:
        cur[last] = value
    return d


def base_doc(docs, base):
    """The document of a mutation's base: an example, maybe with some changes applied first."""
    name, pre = (base, ()) if isinstance(base, str) else base
    doc = docs[name]
    for ptr, value in pre:
        doc = mutate(doc, ptr, value)
    return doc


def base_label(base):
    if isinstance(base, str):
        return base
    return base[0] + "".join(f" {p}=" + ("(deleted)" if v is DEL else json.dumps(v, ensure_ascii=False))
                             for p, v in base[1]) + " +"


def path_to_ptr(path):
    p = ""
    for t in path:
        p = ptr_join(p, t)
    return p


# ---- units, as the reader parses them (sim/core/units.cpp) ----

_NUM = r"\s*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*(.*?)\s*$"
_SIZE = {"": 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4,
         "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
_TIME = {"": 1, "ns": 1, "us": 1e3, "\u00b5s": 1e3, "ms": 1e6, "s": 1e9, "min": 60e9, "h": 3600e9}
_COUNT = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def base_units(v, kind):
    """A schema default or resolved value in base units (bytes, ns, bytes/s, items)."""
    if not isinstance(v, str) or kind is None:
        return v
    table = {"size": _SIZE, "duration": _TIME, "positive_duration": _TIME, "bandwidth": _SIZE,
             "count": _COUNT}[kind]
    if kind == "bandwidth":
        assert v.endswith("/s"), v
        v = v[:-2]
    m = re.match(_NUM, v)
    assert m and m.group(2) in table, f"cannot parse {v!r} as {kind}"
    return float(m.group(1)) * table[m.group(2)]


# ---- walking a schema alongside an instance ----

class Walker:
    UNIT_DEFS = ("size", "duration", "positive_duration", "bandwidth", "count")

    def __init__(self, root):
        self.root = root
        cls = jsonschema.validators.validator_for(root)
        self.resolver = jsonschema.RefResolver.from_schema(root)
        self.cls = cls

    def target(self, ref):
        assert ref.startswith("#/"), ref
        s = self.root
        for t in ptr_tokens(ref[1:]):
            s = s[t]
        return s

    def valid(self, sub, inst):
        return self.cls(sub, resolver=self.resolver).is_valid(inst)

    def applicable(self, s, inst):
        """Every subschema that applies to `inst` (through $ref, allOf, matching anyOf/oneOf
        branches and if/then/else)."""
        if not isinstance(s, dict):
            return
        yield s
        if "$ref" in s:
            yield from self.applicable(self.target(s["$ref"]), inst)
        for sub in s.get("allOf", []):
            yield from self.applicable(sub, inst)
        for key in ("anyOf", "oneOf"):
            for sub in s.get(key, []):
                if self.valid(sub, inst):
                    yield from self.applicable(sub, inst)
        if "if" in s:
            branch = s.get("then") if self.valid(s["if"], inst) else s.get("else")
            if branch is not None:
                yield from self.applicable(branch, inst)

    def prop_schemas(self, s, inst, key):
        return [a["properties"][key] for a in self.applicable(s, inst) if key in a.get("properties", {})]

    def item_schemas(self, s, inst):
        return [a["items"] for a in self.applicable(s, inst) if isinstance(a.get("items"), dict)]

    def default_and_kind(self, s):
        """(has default, default, unit kind) of a property schema, following $ref chains."""
        kind, found, default = None, False, None
        while isinstance(s, dict):
            if not found and "default" in s:
                found, default = True, s["default"]
            ref = s.get("$ref")
            if ref is None:
                break
            name = ref.rsplit("/", 1)[-1]
            if name in self.UNIT_DEFS and kind is None:
                kind = name
            s = self.target(ref)
        if kind is None and isinstance(s, dict) and isinstance(s.get("items"), dict):
            kind = self.default_and_kind(s["items"])[2]  # an array of sizes/durations
        return found, default, kind

    def walk(self, inst, s, ptr, on_key):
        """Calls on_key(ptr, key, value, [property schemas]) for every object key under inst."""
        if isinstance(inst, dict):
            for k, v in inst.items():
                subs = self.prop_schemas(s, inst, k)
                on_key(ptr, k, v, subs)
                if subs:
                    self.walk(v, {"allOf": subs}, ptr_join(ptr, k), on_key)
        elif isinstance(inst, list):
            subs = self.item_schemas(s, inst)
            for i, v in enumerate(inst):
                self.walk(v, {"allOf": subs}, ptr_join(ptr, i), on_key)


def schema_errors(validator, doc):
    """All errors, including those inside anyOf/oneOf/if contexts, as (pointer, message)."""
    out = []

    def add(e):
        out.append((path_to_ptr(e.absolute_path), e.message))
        for c in e.context or []:
            add(c)

    for e in validator.iter_errors(doc):
        add(e)
    return out


# ---- mutations: (kind, base example, pointer, value, pointer the reader must name, message part
# [, another pointer where the schema may report it]) ----
# The base examples must keep the parts these pointers go through.
Q, F, P = "quickstart.json", "numa-fleet.json", "phase-shift.json"
A, SH, R, N = "uffd-anon-async.json", "uffd-shmem.json", "uffd-rwp.json", "naive-async-loses-writes.json"
AM = (A, (("/memory_servers", [{"name": "mem0"}]),))  # uffd-anon-async with a memory server
AR = (A, (("/memory_servers", [{"name": "mem0"}]), ("/vms/0/vmm/tier/kind", "remote")))  # ... and a remote tier
AC = (A, (("/vms/0/vmm/tier/kind", "compressed"),))  # uffd-anon-async with a compressed tier
PH = "/vms/0/vcpu_groups/0/workload/phases"  # the phases of phase-shift's vCPU 0
MUTATIONS = [
    # unknown keys, at every depth, with did-you-mean where a near key exists
    ("unknown key", Q, "/durration", "3s", "/durration", "unknown key 'durration' (did you mean 'duration'?)"),
    ("unknown key", F, "/hosts/0/nodes/2/cpus", 0, "/hosts/0/nodes/2/cpus", "unknown key 'cpus'"),
    ("unknown key", F, "/hosts/0/swap/read_bw", "1GB/s", "/hosts/0/swap/read_bw", "unknown key 'read_bw'"),
    ("unknown key", F, "/hosts/0/nic/latncy", "1us", "/hosts/0/nic/latncy", "(did you mean 'latency'?)"),
    ("unknown key", Q, "/vms/0/memroy", "1GiB", "/vms/0/memroy", "(did you mean 'memory'?)"),
    ("unknown key", Q, "/vms/0/workload/thetaa", 0.5, "/vms/0/workload/thetaa", "(did you mean 'theta'?)"),
    ("unknown key (a key of another generator)", Q, "/vms/0/workload/stride", 2, "/vms/0/workload/stride",
     "unknown key 'stride'"),
    ("unknown key (vCPU-level key inside a phase)", Q, "/vms/1/workload/phases/1/workload/rate", "1M",
     "/vms/1/workload/phases/1/workload/rate", "unknown key 'rate'"),
    ("unknown key", Q, "/vms/1/workload/phases/0/duraton", "1s", "/vms/1/workload/phases/0/duraton",
     "(did you mean 'duration'?)"),
    ("unknown key", F, "/kernel/costs/dram_latency", 90, "/kernel/costs/dram_latency",
     "(did you mean 'dram_latency_ns'?)"),
    ("unknown key", F, "/kernel/mm/use_zero_pages", False, "/kernel/mm/use_zero_pages",
     "(did you mean 'use_zero_page'?)"),
    ("unknown key", Q, "/output/wss_window", ["1s"], "/output/wss_window", "(did you mean 'wss_windows'?)"),
    ("unknown key", P, "/vms/0/vcpu_groups/1/rate", "1M", "/vms/0/vcpu_groups/1/rate", "unknown key 'rate'"),
    ("unknown key (nested phases)", P, PH + "/2/workload/phases/0/workload/hot_size", 0.1,
     PH + "/2/workload/phases/0/workload/hot_size", "unknown key 'hot_size'"),
    ("unknown key (after a type change)", Q, "/vms/0/workload/type", "sequential", "/vms/0/workload/theta",
     "unknown key 'theta'"),
    # wrong types
    ("wrong type", Q, "/seed", "42", "/seed", "expected integer, got string"),
    ("wrong type", Q, "/vms/0/vcpus", 2.5, "/vms/0/vcpus", "expected integer, got number"),
    ("wrong type", Q, "/vms/0/workload/scramble", "yes", "/vms/0/workload/scramble", "expected boolean"),
    ("wrong type", Q, "/hosts/0/nodes/0/memory", True, "/hosts/0/nodes/0/memory", "expected size, got boolean"),
    ("wrong type", F, "/kernel/mm/use_zero_page", 1, "/kernel/mm/use_zero_page", "expected boolean"),
    ("wrong type", Q, "/vms/0/workload/write_ratio", "0.3", "/vms/0/workload/write_ratio", "expected number"),
    ("wrong type", Q, "/hosts", {"name": "host0"}, "/hosts", "expected an array"),
    ("wrong type", F, "/kernel", [], "/kernel", "expected an object"),
    ("wrong type", Q, "/vms/0/host", 0, "/vms/0/host", "expected a host name string"),
    ("wrong type", Q, "/hosts/0/distances", [[10, 21], [21, "10"]], "/hosts/0/distances", "2x2 matrix"),
    ("wrong type", Q, "/vms/1/cpu_nodes", ["1"], "/vms/1/cpu_nodes/0", "expected a node index"),
    ("wrong type", Q, "/output/wss_windows", "1s", "/output/wss_windows", "non-empty array"),
    # bad units
    ("bad unit", Q, "/duration", "2 sec", "/duration", "unknown time unit 'sec'"),
    ("bad unit (Greek mu, not the micro sign)", Q, "/duration", "2000000\u03bcs", "/duration",
     "unknown time unit"),
    ("bad unit", Q, "/hosts/0/nodes/0/memory", "2gib", "/hosts/0/nodes/0/memory", "unknown size unit 'gib'"),
    ("bad unit", F, "/hosts/0/swap/read_bandwidth", "3GB", "/hosts/0/swap/read_bandwidth", "is not a bandwidth"),
    ("bad unit", F, "/hosts/0/nic/bandwidth", "12.5Gb/s", "/hosts/0/nic/bandwidth", "unknown size unit 'Gb'"),
    ("bad unit", Q, "/vms/0/workload/rate", "5 m", "/vms/0/workload/rate", "unknown count unit 'm'"),
    ("bad unit", Q, "/output/sampling_interval", "100 msec", "/output/sampling_interval", "unknown time unit"),
    ("bad unit", Q, "/output/wss_windows", ["100ms", "1 sec"], "/output/wss_windows/1", "unknown time unit"),
    ("bad unit", Q, "/vms/1/workload/phases/0/duration", "500 mS", "/vms/1/workload/phases/0/duration",
     "unknown time unit 'mS'"),
    ("bad unit", Q, "/vms/0/memory", "GiB", "/vms/0/memory", "does not start with a number"),
    # out of range
    ("out of range", Q, "/vms/0/vcpus", 0, "/vms/0/vcpus", "out of range [1, 1024]"),
    ("out of range", Q, "/vms/0/workload/write_ratio", 1.5, "/vms/0/workload/write_ratio", "out of range [0, 1]"),
    ("out of range (exclusive bound)", Q, "/vms/0/workload/theta", 10, "/vms/0/workload/theta", "theta must be < 10"),
    ("out of range", F, "/kernel/costs/dram_latency_ns", 0, "/kernel/costs/dram_latency_ns", "out of range"),
    ("out of range", Q, "/duration", 0, "/duration", "out of range [1, inf]"),
    ("out of range", Q, "/duration", "0ms", "/duration", "out of range [1, inf]"),
    ("out of range", Q, "/hosts/0/nodes/0/cores", 5000, "/hosts/0/nodes/0/cores", "out of range [0, 4096]"),
    ("out of range", F, "/vms/0/count", 0, "/vms/0/count", "out of range [1, 65000]"),
    ("out of range", Q, "/vms/0/memory", 4095, "/vms/0/memory", "out of range [4096,"),
    ("out of range", F, "/hosts/0/swap/read_bandwidth", 0.5, "/hosts/0/swap/read_bandwidth", "out of range [1, 1e+15]"),
    ("out of range", F, "/hosts/0/swap/write_bandwidth", "0GB/s", "/hosts/0/swap/write_bandwidth", "out of range"),
    ("out of range", Q, "/vms/0/workload/rate", 0.5, "/vms/0/workload/rate", "out of range [1, 1e+10]"),
    ("out of range", Q, "/vms/1/workload/phases/0/duration", "0ms", "/vms/1/workload/phases/0/duration",
     "a phase must last > 0 ns"),
    ("out of range", Q, "/output/wss_windows", ["0s"], "/output/wss_windows/0", "must be positive"),
    ("out of range", Q, "/schema_version", 2, "/schema_version", "out of range [1, 1]"),
    ("out of range", Q, "/hosts/0/distances", [[10, 21], [21, 0]], "/hosts/0/distances", "positive numbers"),
    ("out of range", Q, "/hosts/0/swap", {"latency": "-1us"}, "/hosts/0/swap/latency", "out of range [0, inf]"),
    ("out of range (not a multiple of 4KiB)", Q, "/vms/0/memory", 4097, "/vms/0/memory", "4KiB page size"),
    ("out of range", Q, "/vms/0/cpu_nodes", [], "/vms/0/cpu_nodes", "non-empty array"),
    ("out of range", P, "/vms/0/vcpu_groups", [], "/vms/0/vcpu_groups", "groups cover 0 vCPUs"),
    # bad enums
    ("bad enum", Q, "/vms/0/backing", "shm", "/vms/0/backing", "'shm' is not one of anon|shmem|hugetlb (did you mean 'shmem'?)"),
    ("bad enum", F, "/vms/1/placement", "interleaved", "/vms/1/placement", "(did you mean 'interleave'?)"),
    ("bad enum", F, "/kernel/variant", "rfc-v2", "/kernel/variant", "(did you mean 'rfc-v1'?)"),
    ("bad enum", Q, "/vms/0/workload/type", "zipff", "/vms/0/workload/type", "(did you mean 'zipf'?)"),
    ("bad enum", Q, "/vms/1/workload/phases/0/workload/type", "hotcold", "/vms/1/workload/phases/0/workload/type",
     "(did you mean 'hot_cold'?)"),
    # missing required keys
    ("missing required", Q, "/name", DEL, "/name", "missing required string 'name'"),
    ("missing required", Q, "/duration", DEL, "/duration", "missing required duration 'duration'"),
    ("missing required", Q, "/vms/0/memory", DEL, "/vms/0/memory", "missing required size 'memory'"),
    ("missing required", F, "/hosts/0/nodes/2/cores", DEL, "/hosts/0/nodes/2/cores", "missing required integer"),
    ("missing required", Q, "/vms/1/workload/phases/0/duration", DEL, "/vms/1/workload/phases/0/duration",
     "missing required duration"),
    ("missing required", Q, "/vms/0/workload/type", DEL, "/vms/0/workload/type", "missing required enum 'type'"),
    ("missing required", Q, "/vms/0/workload", DEL, "/vms/0/workload", "give 'workload'"),
    ("missing required", Q, "/vms/0/name", None, "/vms/0/name", "missing required string"),
    ("missing required", Q, "/hosts/0/nodes", DEL, "/hosts/0/nodes", "missing required array 'nodes'"),
    # structural rules the schema can express
    ("structure", Q, "/name", "a/b", "/name", "must not contain '/'"),
    ("structure", Q, "/name", "", "/name", "must not be empty"),
    ("structure", Q, "/name", "n" * 201, "/name", "at most 200"),
    ("structure", Q, "/name", "a\tb", "/name", "must not contain control characters"),
    ("structure", Q, "/vms/0/vcpu_groups", [{"vcpus": 2, "workload": {"type": "uniform"}}], "/vms/0/vcpu_groups",
     "not both"),
    ("structure", Q, "/hosts/0/nodes", [{"cores": 0, "memory": "1GiB"}], "/hosts/0/nodes", "no node has CPU cores"),
    ("structure", Q, "/vms/1/workload/phases", [], "/vms/1/workload/phases", "at least one phase"),
    ("structure", Q, "/vms", [], "/vms", "at least one VM"),
    ("structure", Q, "/hosts/0/nodes/0", 4, "/hosts/0/nodes/0", "expected an object"),

    # ---- kernel.patches, kernel.costs (tlb_ipi_ns, uffd), memory_servers, vmm, device keys ----
    ("unknown key", A, "/kernel/patches/gup_rwp", True, "/kernel/patches/gup_rwp", "unknown key 'gup_rwp'"),
    ("unknown key", R, "/kernel/patches/uffd_feed_numa", False, "/kernel/patches/uffd_feed_numa",
     "(did you mean 'uffd_feeds_numa'?)"),
    ("unknown key", A, "/kernel/costs/tlb_ipi_n", 1000, "/kernel/costs/tlb_ipi_n", "(did you mean 'tlb_ipi_ns'?)"),
    ("unknown key", A, "/kernel/costs/uffd/ioctl_n", 700, "/kernel/costs/uffd/ioctl_n", "(did you mean 'ioctl_ns'?)"),
    ("unknown key", A, "/vms/0/vmm/intervl", "1s", "/vms/0/vmm/intervl", "(did you mean 'interval'?)"),
    ("unknown key", AC, "/vms/0/vmm/tier/compres_ns", 5, "/vms/0/vmm/tier/compres_ns", "(did you mean 'compress_ns'?)"),
    ("unknown key", AR, "/vms/0/vmm/tier/sever", "mem0", "/vms/0/vmm/tier/sever", "(did you mean 'server'?)"),
    ("unknown key (a compressed key with kind ssd)", A, "/vms/0/vmm/tier/compress_ns", 2000,
     "/vms/0/vmm/tier/compress_ns", "unknown key 'compress_ns'"),
    ("unknown key (a compressed key, kind absent = ssd)", A, "/vms/0/vmm/tier", {"compression_ratio": 2},
     "/vms/0/vmm/tier/compression_ratio", "unknown key 'compression_ratio'"),
    ("unknown key (a remote key with kind compressed)", AC, "/vms/0/vmm/tier/server", "mem0",
     "/vms/0/vmm/tier/server", "unknown key 'server'"),
    ("unknown key (a compressed key with kind remote)", AR, "/vms/0/vmm/tier/decompress_ns", 1000,
     "/vms/0/vmm/tier/decompress_ns", "unknown key 'decompress_ns'"),
    ("unknown key (after a kind change)", (A, (("/vms/0/vmm/tier", {"kind": "compressed", "compress_ns": "1us"}),)),
     "/vms/0/vmm/tier/kind", "ssd", "/vms/0/vmm/tier/compress_ns", "unknown key 'compress_ns'"),
    ("unknown key (a uffd-ws key under naive-async)", N, "/vms/0/vmm/recheck_after_sync", False,
     "/vms/0/vmm/recheck_after_sync", "unknown key 'recheck_after_sync'"),
    ("unknown key (policy none takes no other key)", Q, "/vms/0/vmm", {"policy": "none", "interval": "1s"},
     "/vms/0/vmm/interval", "unknown key 'interval'"),
    ("unknown key (no policy = none)", Q, "/vmm/tier", {"kind": "ssd"}, "/vmm/tier", "unknown key 'tier'"),
    ("unknown key (null policy = none)", A, "/vms/0/vmm/policy", None, "/vms/0/vmm/age_threshold",
     "unknown key 'age_threshold'"),
    ("unknown key", Q, "/memory_servers", [{"name": "mem0", "nick": {}}], "/memory_servers/0/nick",
     "(did you mean 'nic'?)"),
    ("unknown key", Q, "/memory_servers", [{"name": "mem0", "nic": {"latncy": "1us"}}],
     "/memory_servers/0/nic/latncy", "(did you mean 'latency'?)"),
    ("unknown key", A, "/vms/0/workload/device_shares", 0.1, "/vms/0/workload/device_shares",
     "(did you mean 'device_share'?)"),
    ("unknown key (vCPU-level key inside a phase)", Q, "/vms/1/workload/phases/0/workload/device_share", 0.1,
     "/vms/1/workload/phases/0/workload/device_share", "unknown key 'device_share'"),
    ("unknown key (vCPU-level key inside a phase)", P, PH + "/0/workload/device_honor_numa_fault", True,
     PH + "/0/workload/device_honor_numa_fault", "unknown key 'device_honor_numa_fault'"),
    ("wrong type", A, "/vms/0/workload/device_share", "0.1", "/vms/0/workload/device_share",
     "expected number, got string"),
    ("wrong type", R, "/vms/0/workload/device_share", True, "/vms/0/workload/device_share", "expected number"),
    ("wrong type", A, "/vms/0/workload/device_honor_numa_fault", 1, "/vms/0/workload/device_honor_numa_fault",
     "expected boolean"),
    ("wrong type", R, "/kernel/patches/gup_rwp_fault", "false", "/kernel/patches/gup_rwp_fault", "expected boolean"),
    ("wrong type", A, "/kernel/patches", None, "/kernel/patches", "expected an object, got null"),
    ("wrong type", A, "/kernel/costs/tlb_ipi_ns", "1us", "/kernel/costs/tlb_ipi_ns", "expected integer, got string"),
    ("wrong type", Q, "/host_profile", 5, "/host_profile", "expected string, got number"),
    ("wrong type", A, "/kernel/costs/uffd/copy_ns", 400.5, "/kernel/costs/uffd/copy_ns", "expected integer"),
    ("wrong type", A, "/kernel/costs/uffd", 5, "/kernel/costs/uffd", "expected an object"),
    ("wrong type", A, "/vms/0/vmm", "uffd-ws", "/vms/0/vmm", "expected an object, got string"),
    ("wrong type", A, "/vms/0/vmm", None, "/vms/0/vmm", "expected an object, got null"),
    ("wrong type", Q, "/vmm", [], "/vmm", "expected an object"),
    ("wrong type", A, "/vms/0/vmm/policy", 1, "/vms/0/vmm/policy", "expected enum, got number"),
    ("wrong type", A, "/vms/0/vmm/age_threshold", 2.5, "/vms/0/vmm/age_threshold", "expected integer"),
    ("wrong type", A, "/vms/0/vmm/recheck_after_sync", "yes", "/vms/0/vmm/recheck_after_sync", "expected boolean"),
    ("wrong type", A, "/vms/0/vmm/tier", "ssd", "/vms/0/vmm/tier", "expected an object"),
    ("wrong type", AR, "/vms/0/vmm/tier/server", 5, "/vms/0/vmm/tier/server", "expected string"),
    ("wrong type", AC, "/vms/0/vmm/tier/compression_ratio", "2.5", "/vms/0/vmm/tier/compression_ratio",
     "expected number"),
    ("wrong type", Q, "/memory_servers", {"name": "mem0"}, "/memory_servers", "expected an array"),
    ("wrong type", Q, "/memory_servers", ["mem0"], "/memory_servers/0", "expected an object"),
    ("wrong type", Q, "/memory_servers", [{"name": 0}], "/memory_servers/0/name", "expected string"),
    ("bad unit", A, "/vms/0/vmm/interval", "200 msec", "/vms/0/vmm/interval", "unknown time unit"),
    ("bad unit", A, "/vms/0/vmm/memory_target", "1 gb", "/vms/0/vmm/memory_target", "unknown size unit 'gb'"),
    ("bad unit", AC, "/vms/0/vmm/tier/decompress_ns", "1 usec", "/vms/0/vmm/tier/decompress_ns",
     "unknown time unit"),
    ("bad unit", Q, "/memory_servers", [{"name": "mem0", "nic": {"bandwidth": "10Gbit/s"}}],
     "/memory_servers/0/nic/bandwidth", "unknown size unit 'Gbit'"),
    ("out of range", A, "/vms/0/vmm/age_threshold", 0, "/vms/0/vmm/age_threshold", "out of range [1, 255]"),
    ("out of range", N, "/vms/0/vmm/age_threshold", 256, "/vms/0/vmm/age_threshold", "out of range [1, 255]"),
    ("out of range", A, "/vms/0/vmm/interval", 999, "/vms/0/vmm/interval", "out of range [1000, inf]"),
    ("out of range", A, "/vms/0/vmm/batch_pages", 0, "/vms/0/vmm/batch_pages", "out of range [1, "),
    ("out of range", N, "/vms/0/vmm/batch_pages", 1048577, "/vms/0/vmm/batch_pages", "out of range [1, "),
    ("out of range", A, "/vms/0/vmm/memory_target", -4096, "/vms/0/vmm/memory_target", "out of range [0, inf]"),
    ("out of range", AC, "/vms/0/vmm/tier/compression_ratio", 0.5, "/vms/0/vmm/tier/compression_ratio",
     "out of range [1, 64]"),
    ("out of range", AC, "/vms/0/vmm/tier/compress_ns", "-1us", "/vms/0/vmm/tier/compress_ns", "out of range [0, inf]"),
    ("out of range", A, "/vms/0/workload/device_share", 1.5, "/vms/0/workload/device_share", "out of range [0, 1]"),
    ("out of range", A, "/vms/0/workload/device_share", -0.1, "/vms/0/workload/device_share", "out of range [0, 1]"),
    ("out of range", A, "/kernel/costs/tlb_ipi_ns", -1, "/kernel/costs/tlb_ipi_ns", "out of range [0, 1e+09]"),
    ("out of range", A, "/kernel/costs/uffd/roundtrip_ns", 2000000000, "/kernel/costs/uffd/roundtrip_ns",
     "out of range [0, 1e+09]"),
    ("out of range", Q, "/memory_servers", [{"name": "mem0", "nic": {"bandwidth": 0}}],
     "/memory_servers/0/nic/bandwidth", "out of range [1, 1e+15]"),
    ("bad enum", A, "/vms/0/vmm/policy", "uffd_ws", "/vms/0/vmm/policy",
     "'uffd_ws' is not one of none|uffd-ws|uffd-minor-async|uffd-rwp-async|uffd-shmem-zap|uffd-hugetlb-zap|naive-async|"
     "wp-async-written|abit-harvest|idle-page|damon|senpai|random|fifo|clock|exact-lru|opt (did you mean 'uffd-ws'?)"),
    ("bad enum", Q, "/vmm/policy", "naive", "/vmm/policy", "is not one of none|uffd-ws|uffd-minor-async|uffd-rwp-async|uffd-shmem-zap|uffd-hugetlb-zap|naive-async|wp-async-written|"
     "abit-harvest|idle-page|damon|senpai|random|fifo|clock|exact-lru|opt"),
    ("bad enum", A, "/vms/0/vmm/tier/kind", "remot", "/vms/0/vmm/tier/kind", "(did you mean 'remote'?)"),
    ("bad enum", A, "/vms/0/vmm/tier/kind", "nvme", "/vms/0/vmm/tier/kind", "is not one of ssd|remote|compressed"),
    ("missing required", Q, "/memory_servers", [{"nic": {}}], "/memory_servers/0/name",
     "missing required string 'name'"),

    # ---- kernel.mm watermarks, kernel.costs.userfault_ns, kernel daemons (kernel.vmstat) ----
    ("unknown key", F, "/kernel/mm/min_free_kbyte", 1024, "/kernel/mm/min_free_kbyte",
     "(did you mean 'min_free_kbytes'?)"),
    ("unknown key", A, "/kernel/costs/userfault", 500, "/kernel/costs/userfault", "(did you mean 'userfault_ns'?)"),
    ("unknown key (a kernel section no daemon reads)", Q, "/kernel/vmstats", {}, "/kernel/vmstats",
     "(did you mean 'vmstat'?)"),
    ("unknown key", Q, "/kernel/vmstat/enable", True, "/kernel/vmstat/enable", "(did you mean 'enabled'?)"),
    ("unknown key", Q, "/kernel/vmstat/cost_per_node", 100, "/kernel/vmstat/cost_per_node",
     "(did you mean 'cost_per_node_ns'?)"),
    ("wrong type", F, "/kernel/mm/watermark_scale_factor", "10", "/kernel/mm/watermark_scale_factor",
     "expected integer, got string"),
    ("wrong type", F, "/kernel/mm/min_free_kbytes", 1024.5, "/kernel/mm/min_free_kbytes", "expected integer"),
    ("wrong type", A, "/kernel/costs/userfault_ns", 1.5, "/kernel/costs/userfault_ns", "expected integer, got number"),
    ("wrong type", Q, "/kernel/vmstat", True, "/kernel/vmstat", "expected an object, got boolean"),
    ("wrong type", Q, "/kernel/vmstat", None, "/kernel/vmstat", "expected an object, got null"),
    ("wrong type", Q, "/kernel/vmstat/enabled", 1, "/kernel/vmstat/enabled", "expected boolean, got number"),
    ("wrong type", Q, "/kernel/vmstat/cost_per_node_ns", "200ns", "/kernel/vmstat/cost_per_node_ns",
     "expected integer, got string"),
    ("bad unit", Q, "/kernel/vmstat/interval", "1 sec", "/kernel/vmstat/interval", "unknown time unit 'sec'"),
    ("out of range", F, "/kernel/mm/min_free_kbytes", -1, "/kernel/mm/min_free_kbytes", "out of range [0, 1e+12]"),
    ("out of range", F, "/kernel/mm/min_free_kbytes", 2000000000000, "/kernel/mm/min_free_kbytes",
     "out of range [0, 1e+12]"),
    ("out of range", F, "/kernel/mm/watermark_scale_factor", 0, "/kernel/mm/watermark_scale_factor",
     "out of range [1, 3000]"),
    ("out of range", F, "/kernel/mm/watermark_scale_factor", 3001, "/kernel/mm/watermark_scale_factor",
     "out of range [1, 3000]"),
    ("out of range", A, "/kernel/costs/userfault_ns", -1, "/kernel/costs/userfault_ns", "out of range [0, 1e+09]"),
    ("out of range", A, "/kernel/costs/userfault_ns", 2000000000, "/kernel/costs/userfault_ns",
     "out of range [0, 1e+09]"),
    ("out of range", Q, "/kernel/vmstat/interval", 999, "/kernel/vmstat/interval", "out of range [1000, inf]"),
    ("out of range", Q, "/kernel/vmstat/cost_per_node_ns", -1, "/kernel/vmstat/cost_per_node_ns",
     "out of range [0, 1e+09]"),
    ("out of range", Q, "/kernel/vmstat/cost_per_node_ns", 2000000000, "/kernel/vmstat/cost_per_node_ns",
     "out of range [0, 1e+09]"),
    # cross-field rules the schema expresses (its top-level allOf)
    ("cross-field (a policy needs rfc-v1 or rwp)", A, "/kernel/variant", "upstream", "/vms/0/vmm/policy",
     "needs kernel.variant rfc-v1"),
    ("cross-field (a policy needs rfc-v1 or rwp; default variant)", N, "/kernel", DEL, "/vms/0/vmm/policy",
     "needs kernel.variant rfc-v1"),
    ("cross-field (a policy needs rfc-v1 or rwp; top-level vmm)", Q, "/vmm", {"policy": "uffd-ws"}, "/vmm/policy",
     "needs kernel.variant rfc-v1"),
    ("cross-field (rwp: shmem only with uffd-ws)", (SH, (("/vms/0/vmm/policy", "abit-harvest"),)), "/kernel/variant",
     "rwp", "/vms/0/vmm/policy", "the rwp series tracks anon memory"),
    ("cross-field (rwp, shmem VM inheriting the top-level vmm)",
     (SH, (("/vmm", {"policy": "abit-harvest", "interval": "200ms"}), ("/vms/0/vmm", DEL))), "/kernel/variant", "rwp",
     "/vms/0/backing", "the inherited /vmm: the rwp series tracks anon memory"),
    ("cross-field (a remote tier needs a memory server)", A, "/vms/0/vmm/tier/kind", "remote", "/vms/0/vmm/tier/kind",
     "a remote tier needs a memory server"),
    ("cross-field (a remote tier needs a memory server)", (A, (("/memory_servers", []),)), "/vms/0/vmm/tier",
     {"kind": "remote", "server": "mem0"}, "/vms/0/vmm/tier/kind", "a remote tier needs a memory server",
     "/memory_servers"),
    ("cross-field (a remote tier needs a memory server; top-level vmm)", A, "/vmm",
     {"policy": "naive-async", "tier": {"kind": "remote"}}, "/vmm/tier/kind", "a remote tier needs a memory server"),

    # ---- simgrid.cfg: SimGrid settings "name:value" ----
    ("unknown key", Q, "/simgrid/cfgs", [], "/simgrid/cfgs", "(did you mean 'cfg'?)"),
    ("wrong type", Q, "/simgrid", ["network/latency-factor:2"], "/simgrid", "expected an object"),
    ("wrong type", Q, "/simgrid/cfg", "network/latency-factor:2", "/simgrid/cfg", "expected an array"),
    ("wrong type", Q, "/simgrid/cfg", None, "/simgrid/cfg", "expected an array"),
    ("wrong type", Q, "/simgrid/cfg", ["network/latency-factor:2", 2], "/simgrid/cfg/1", "expected a string"),
    ("structure (no value)", Q, "/simgrid/cfg", ["network/latency-factor"], "/simgrid/cfg/0", "expected \"name:value\""),
    ("structure (no name)", Q, "/simgrid/cfg", [":2"], "/simgrid/cfg/0", "expected \"name:value\""),
    ("structure (two settings in one item)", Q, "/simgrid/cfg", ["network/latency-factor:2,network/weight-S:0"],
     "/simgrid/cfg/0", "one setting per item"),
    ("structure (a space)", Q, "/simgrid/cfg", ["network/latency-factor: 2"], "/simgrid/cfg/0", "one setting per item"),
    ("structure (the option, not the setting)", Q, "/simgrid/cfg", ["--cfg=network/latency-factor:2"],
     "/simgrid/cfg/0", "without the --cfg= prefix"),
]

# Rules JSON Schema cannot express: the reader must reject these (as above); the schema accepts them.
READER_ONLY = [
    ("tier server not among memory_servers", AM, "/vms/0/vmm/tier", {"kind": "remote", "server": "mem1"},
     "/vms/0/vmm/tier/server", "no memory server named 'mem1' (did you mean 'mem0'?)"),
    ("memory server named like a host", A, "/memory_servers", [{"name": "host0"}], "/memory_servers/0/name",
     "'host0' is already a host name"),
    ("duplicate VM name", Q, "/vms/1/name", "web", "/vms/1/name", "VM name 'web' is already used at /vms/0"),
    ("home node beyond the host's nodes", A, "/vms/0/home_node", 1, "/vms/0/home_node", "host has 1 node(s)"),
    ("a string value against a range", A, "/vms/0/vmm/interval", "0.5us", "/vms/0/vmm/interval",
     "out of range [1000, inf]"),
    ("a string value against a range", Q, "/kernel/vmstat/interval", "999ns", "/kernel/vmstat/interval",
     "out of range [1000, inf]"),
    ("host_profile names no file", Q, "/host_profile", "no-such-profile.json", "/host_profile",
     "cannot open host profile"),
    # r000.json: the first document of this list, written beside this one (a scenario, not a profile)
    ("host_profile is not a profile", Q, "/host_profile", "r000.json", "/host_profile", "is not a host profile"),
]

# Spellings the reader accepts: the schema must accept them too.
ACCEPTED = [
    (Q, "/duration", " 2 s "), (Q, "/duration", "2000000000"), (Q, "/duration", "2000ms"),
    (Q, "/duration", "2e9ns"), (Q, "/duration", "2000000\u00b5s"), (Q, "/duration", 2000000000),
    (Q, "/quantum", "100 us"), (Q, "/quantum", None), (Q, "/seed", None), (Q, "/description", None),
    (Q, "/hosts/0/nodes/0/memory", "2 GiB"), (Q, "/hosts/0/nodes/0/memory", 2147483648),
    (Q, "/hosts/0/nodes/0/memory", "2048MiB"), (Q, "/hosts/0/nodes/0/memory", "2.5GiB"),
    (Q, "/hosts/0/nodes/0/cores", 4.0), (Q, "/hosts/0/distances", [[10, 21.5], [21.5, 10]]),
    (Q, "/hosts/0/latency_ns", [[90, 180], [180, 90]]),
    (F, "/hosts/0/swap/read_bandwidth", "1 GiB /s"), (F, "/hosts/0/swap/read_bandwidth", 1.5e9),
    (F, "/hosts/0/swap/size", None), (F, "/hosts/0/nic/latency", 2000),
    (Q, "/vms/0/host", None), (Q, "/vms/0/backing", None), (Q, "/vms/0/memory", "512 MiB"),
    (Q, "/vms/0/workload/rate", "2.5k"), (Q, "/vms/0/workload/rate", 5000000), (Q, "/vms/0/workload/rate", "1e6"),
    (Q, "/vms/0/workload/theta", 9.99), (Q, "/vms/0/workload/region_size", "256MiB"),
    (Q, "/vms/0/workload/region_offset", 268435456),
    (Q, "/vms/1/workload/phases/0/workload", {"type": "phases", "phases": [{"duration": 1, "workload": {"type": "uniform"}}]}),
    (Q, "/output/wss_windows", [100000000, "1 s"]), (Q, "/output/sampling_interval", None),
    (Q, "/schema_version", 1), (Q, "/name", "n" * 200),
    (Q, "/host_profile", None), (Q, "/host_profile", ""),
    # kernel.patches, kernel.costs, memory_servers, vmm, device keys
    (A, "/kernel/variant", "rwp"), (R, "/kernel/patches/gup_rwp_fault", False),
    (A, "/kernel/patches", {"uffd_feeds_numa": None}), (A, "/kernel/costs/tlb_ipi_ns", 0),
    (A, "/kernel/costs/uffd", {"roundtrip_ns": 1000000000, "per_pte_ns": None}),
    (A, "/vms/0/workload/device_share", 1), (A, "/vms/0/workload/device_share", None),
    (A, "/vms/0/workload/device_honor_numa_fault", True), (Q, "/vms/1/workload/device_share", 0.5),
    (P, "/vms/0/vcpu_groups/0/workload/device_share", 0.2),
    (Q, "/memory_servers", []),
    (Q, "/memory_servers", [{"name": "mem0", "nic": {"bandwidth": "25GB/s", "latency": "3us"}}, {"name": "mem1"}]),
    (Q, "/vmm", {}), (Q, "/vmm", {"policy": "none"}), (Q, "/vmm", {"policy": None}),
    (A, "/vms/0/vmm", {}), (A, "/vms/0/vmm", {"policy": "none"}), (A, "/vms/0/vmm", {"policy": "uffd-ws"}),
    (A, "/vmm", {"policy": "uffd-ws"}), (A, "/vms/0/vmm/policy", "naive-async"),
    (A, "/vms/0/vmm/recheck_after_sync", False), (A, "/vms/0/vmm/recheck_after_sync", None),
    (A, "/vms/0/vmm/interval", "0.5 s"), (A, "/vms/0/vmm/interval", 1000),
    (A, "/vms/0/vmm/memory_target", "64MiB"), (A, "/vms/0/vmm/memory_target", None),
    (A, "/vms/0/vmm/age_threshold", 255), (A, "/vms/0/vmm/batch_pages", 1048576),
    (A, "/vms/0/vmm/tier", {}), (A, "/vms/0/vmm/tier/kind", None), (A, "/vms/0/vmm/tier", {"kind": None}),
    (A, "/vms/0/vmm/tier", {"kind": "compressed", "compression_ratio": 64, "compress_ns": "2us", "decompress_ns": 0}),
    (A, "/vms/0/vmm/tier", {"kind": "compressed"}), (AC, "/vms/0/vmm/tier/compress_ns", None),
    (AM, "/vms/0/vmm/tier", {"kind": "remote"}), (AM, "/vms/0/vmm/tier", {"kind": "remote", "server": "mem0"}),
    (AR, "/vms/0/vmm/tier/server", None), (AR, "/vms/0/vmm/tier/server", ""),
    (AM, "/vmm", {"policy": "naive-async", "tier": {"kind": "remote"}}),
    ((SH, (("/kernel/variant", "rwp"),)), "/vms/0/vmm", {"policy": "none"}),
    ((SH, (("/kernel/variant", "rwp"), ("/vmm", {"policy": "uffd-ws"}))), "/vms/0/vmm", {"policy": "none"}),
    ((SH, (("/vms/0/vmm", DEL),)), "/vmm", {"policy": "uffd-ws"}),
    ((SH, (("/kernel/variant", "rwp"), ("/vms/0/vmm", DEL))), "/vms/0/backing", "anon"),
    # kernel.mm watermarks, kernel.costs.userfault_ns, kernel daemons
    (F, "/kernel/mm/min_free_kbytes", 65536), (F, "/kernel/mm/min_free_kbytes", 0), (F, "/kernel/mm/min_free_kbytes", None),
    (F, "/kernel/mm/watermark_scale_factor", 3000), (F, "/kernel/mm/watermark_scale_factor", 1),
    (A, "/kernel/costs/userfault_ns", 0), (A, "/kernel/costs/userfault_ns", None),
    (Q, "/kernel/vmstat", {}), (Q, "/kernel/vmstat", {"enabled": True}),
    (Q, "/kernel/vmstat", {"enabled": True, "interval": "100 ms", "cost_per_node_ns": 0}),
    (Q, "/kernel/vmstat", {"enabled": None, "interval": None, "cost_per_node_ns": None}),
    (Q, "/kernel/vmstat/interval", 1000), (Q, "/kernel/vmstat/interval", "1us"),
    # simgrid.cfg (the reader checks the form; SimGrid checks names and values when a run starts)
    (Q, "/simgrid", {}), (Q, "/simgrid/cfg", []),
    (Q, "/simgrid/cfg", ["network/latency-factor:2", "network/model:LV08", "tracing/filename:a:b", "path:"]),
]

# Defaults that stand for a value the reader derives and writes into the resolved scenario:
# (pattern of the resolved pointer, the schema's default, what the reader resolves it to in a
# minimal scenario `doc`).
RESOLVED_DEFAULTS = [
    (r"/vmm/tier/server$", "", lambda doc: doc["memory_servers"][0]["name"]),  # "" = the first memory server
]


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 1
    binary, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    sdir = os.path.join(src, "scenarios")
    schema_path = os.path.join(sdir, "schema.json")
    c = Checks()

    print(f"schema {schema_path}")
    with open(schema_path) as f:
        schema = json.load(f)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        c.ok(True, "schema.json is a valid draft 2020-12 schema")
    except jsonschema.SchemaError as e:
        c.ok(False, "schema.json is a valid draft 2020-12 schema", str(e).splitlines()[0])
        return 1
    validator = jsonschema.Draft202012Validator(schema)
    walker = Walker(schema)

    examples = sorted(p for p in glob.glob(os.path.join(sdir, "*.json")) if os.path.basename(p) != "schema.json")
    docs = {}
    tmp = tempfile.mkdtemp(prefix="vmemsim_schema_")

    print("\nexamples: schema, `vmemsim validate`, resolved keys declared, resolved round trip")
    for path in examples:
        name = os.path.basename(path)
        with open(path) as f:
            doc = json.load(f)
        docs[name] = doc
        errs = schema_errors(validator, doc)
        c.ok(not errs, f"{name}: valid against the schema", "; ".join(f"{p}: {m}" for p, m in errs[:5]))
        r = run(binary, "validate", path)
        c.ok(r.returncode == 0, f"{name}: `vmemsim validate` accepts it", r.stderr.strip())
        r = run(binary, "validate", path, "--print")
        try:
            resolved = json.loads(r.stdout[r.stdout.index("{"):]) if r.returncode == 0 else None
        except ValueError:
            resolved = None
        if not c.ok(isinstance(resolved, dict), f"{name}: `vmemsim validate --print` prints the resolved scenario",
                    r.stderr.strip()[:300]):
            continue
        undeclared = []
        walker.walk(resolved, schema, "", lambda ptr, k, v, subs: undeclared.append(ptr_join(ptr, k)) if not subs else None)
        c.ok(not undeclared, f"{name}: every key of the resolved scenario is declared in the schema",
             "undeclared: " + ", ".join(undeclared[:10]))
        errs = schema_errors(validator, resolved)
        c.ok(not errs, f"{name}: the resolved scenario is valid against the schema",
             "; ".join(f"{p}: {m[:150]}" for p, m in errs[:5]))
        rpath = os.path.join(tmp, "resolved-" + name)
        with open(rpath, "w") as f:
            json.dump(resolved, f)
        r = run(binary, "validate", rpath)
        c.ok(r.returncode == 0, f"{name}: `vmemsim validate` accepts the resolved scenario as input", r.stderr.strip()[:500])

    print("\nmutations: the schema and `vmemsim validate` must both reject them, at the right pointer")
    def reader_rejects(name, doc, want_ptr, want_msg):
        """(ok, detail): `vmemsim validate` exits 2 with `file:want_ptr: ...want_msg...`."""
        mpath = os.path.join(tmp, name)
        with open(mpath, "w") as f:
            json.dump(doc, f, ensure_ascii=False)
        r = run(binary, "validate", mpath)
        prefix = f"{mpath}:{want_ptr}: "
        lines = [l for l in r.stderr.splitlines() if l.startswith(prefix)]
        ok = r.returncode == 2 and any(want_msg in l for l in lines)
        return ok, ("" if ok else f"vmemsim exit {r.returncode}, wanted 2 and '{prefix}...{want_msg}'; stderr: " +
                    r.stderr.strip().replace(mpath, "<file>")[:400])

    for i, (kind, base, ptr, value, want_ptr, want_msg, *schema_at) in enumerate(MUTATIONS):
        if (base if isinstance(base, str) else base[0]) not in docs:
            c.ok(False, f"mutation {i}: base example {base_label(base)} exists")
            continue
        shown = "(deleted)" if value is DEL else json.dumps(value, ensure_ascii=False)
        what = f"{kind}: {base_label(base)} {ptr} = {shown}"
        try:
            doc = mutate(base_doc(docs, base), ptr, value)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            c.ok(False, what, f"the base example has no parent for {ptr} ({e!r}); update MUTATIONS")
            continue
        errs = schema_errors(validator, doc)
        # Some schema error must sit at the reader's pointer, at an enclosing object (unknown
        # keys, if/then branches) or inside the value (an element of a matrix or list).
        at = [p for p, _ in errs if want_ptr == p or want_ptr.startswith(p + "/") or p.startswith(want_ptr + "/")
              or p in schema_at]
        detail = "schema errors: " + "; ".join(f"{p or '/'}: {m[:120]}" for p, m in errs[:4])
        if kind.startswith("unknown key"):
            key = ptr_tokens(want_ptr)[-1]
            ok_schema = any(key in m for p, m in errs if p in at)
        else:
            ok_schema = bool(at)
        ok_reader, rdetail = reader_rejects(f"m{i:03d}.json", doc, want_ptr, want_msg)
        c.ok(ok_schema and ok_reader, what, ("" if ok_schema else detail + "\n        ") + rdetail)

    print("\nrules JSON Schema cannot express: `vmemsim validate` rejects them, the schema accepts them")
    for i, (kind, base, ptr, value, want_ptr, want_msg) in enumerate(READER_ONLY):
        doc = mutate(base_doc(docs, base), ptr, value)
        errs = schema_errors(validator, doc)
        ok_reader, rdetail = reader_rejects(f"r{i:03d}.json", doc, want_ptr, want_msg)
        c.ok(not errs and ok_reader, f"{kind}: {base_label(base)} {ptr} = {json.dumps(value, ensure_ascii=False)}",
             ("schema rejects it: " + "; ".join(f"{p}: {m[:120]}" for p, m in errs[:3]) + "\n        " if errs else "")
             + rdetail)

    print("\nother spellings the reader accepts: the schema must accept them too")
    for i, (base, ptr, value) in enumerate(ACCEPTED):
        doc = mutate(base_doc(docs, base), ptr, value)
        errs = schema_errors(validator, doc)
        apath = os.path.join(tmp, f"a{i:03d}.json")
        with open(apath, "w") as f:
            json.dump(doc, f, ensure_ascii=False)
        r = run(binary, "validate", apath)
        shown = "(deleted)" if value is DEL else json.dumps(value, ensure_ascii=False)
        c.ok(not errs and r.returncode == 0, f"{base_label(base)} {ptr} = {shown}",
             ("schema: " + "; ".join(f"{p}: {m[:120]}" for p, m in errs[:3]) if errs else "") +
             (f" vmemsim exit {r.returncode}: " + r.stderr.strip().replace(apath, "<file>")[:300] if r.returncode else ""))

    print("\ndefaults: the schema's `default`s against what the reader fills in")
    gens = [g for g in walker.target("#/$defs/workload/properties/type")["enum"]]
    # `trace` needs a file to replay (its only required key).
    trace_file = os.path.join(tmp, "minimal.lackey")
    with open(trace_file, "w") as f:
        f.write(" L 00001000,8\n S 00002000,8\n")

    def minimal_workload(g):
        return {"type": g, "path": trace_file} if g == "trace" else {"type": g}
    groups = [{"vcpus": 1, "workload": minimal_workload(g)} for g in gens if g != "phases"]
    groups.append({"vcpus": 1, "workload": {"type": "phases", "phases": [
        {"duration": "1s", "workload": minimal_workload(g)} for g in gens]}})
    nested = next(ph for ph in groups[-1]["workload"]["phases"] if ph["workload"]["type"] == "phases")
    nested["workload"]["phases"] = [{"duration": 1, "workload": {"type": "uniform"}}]
    # One 64 MiB VM per VMM policy and tier kind must fit in host DRAM (no overcommit without swap).
    host = [{"name": "h", "nodes": [{"cores": 8, "memory": "2GiB"}]}]
    minimal = {"name": "minimal", "duration": "10s", "hosts": host,
               "vms": [{"name": "v", "vcpus": len(groups), "memory": "64MiB", "vcpu_groups": groups}]}
    # The VMM's keys only resolve under a policy, which needs rfc-v1 (so the variant's own default
    # comes from the first scenario), and a tier's keys only under its kind: one VM per policy,
    # then one per tier kind (under the first policy); a memory server resolves its NIC's defaults.
    policies = [p for p in walker.target("#/$defs/policy")["enum"] if p is not None]
    kinds = [k for k in walker.target("#/$defs/tier/properties/kind")["enum"] if k is not None]
    active = [p for p in policies if p != "none"]
    # A policy named after one mechanism runs only on its variant and backing; the rest on rfc-v1
    # anon. The rwp-only ones get a scenario of their own (the variant is per scenario).
    needs = {"uffd-rwp-async": ("rwp", "anon"), "uffd-shmem-zap": ("rfc-v1", "shmem"),
             "uffd-hugetlb-zap": ("rfc-v1", "hugetlb")}
    vmms = [{"policy": p} for p in policies if needs.get(p, ("rfc-v1",))[0] == "rfc-v1"]
    vmms += [{"policy": active[0], "tier": {"kind": k}} for k in kinds]

    # opt needs a future it can know: one vCPU replaying a trace once.
    trace = os.path.join(tmp, "opt.lackey")
    with open(trace, "w") as f:
        f.write(" S 10000000,8\n L 10001000,8\n")

    def vm(i, v):
        d = {"name": f"v{i}", "vcpus": 1, "memory": "32MiB", "workload": {"type": "uniform"}, "vmm": v}
        if v["policy"] == "opt":
            d["workload"] = {"type": "trace", "path": trace, "at_end": "stop"}
        if needs.get(v["policy"], (None, "anon"))[1] != "anon":
            d["backing"] = needs[v["policy"]][1]
        return d
    # The hugetlb VM draws on a pool of 2 MiB pages taken out of the node's DRAM at boot.
    host_vmm = [{"name": "h", "nodes": [{"cores": 8, "memory": "4GiB", "hugepages": 32}]}]
    minimal_vmm = {"name": "minimal-vmm", "duration": "10s", "hosts": host_vmm, "kernel": {"variant": "rfc-v1"},
                   "memory_servers": [{"name": "mem0"}],
                   "vms": [vm(i, v) for i, v in enumerate(vmms)]}
    rwp_only = [{"policy": p} for p in policies if needs.get(p, ("rfc-v1",))[0] == "rwp"]
    minimal_rwp = {"name": "minimal-vmm-rwp", "duration": "10s", "hosts": host, "kernel": {"variant": "rwp"},
                   "vms": [vm(i, v) for i, v in enumerate(rwp_only)]}
    compared, bad = [], []
    for doc in (minimal, minimal_vmm, minimal_rwp):
        mpath = os.path.join(tmp, doc["name"] + ".json")
        with open(mpath, "w") as f:
            json.dump(doc, f)
        r = run(binary, "validate", mpath, "--print")
        if not c.ok(r.returncode == 0 and "{" in r.stdout, f"{doc['name']}: a minimal scenario validates "
                    f"({'every generator, every kernel daemon' if doc is minimal else 'every VMM policy, every tier kind, a memory server' if doc is minimal_vmm else 'the rwp-only VMM policies'})",
                    r.stderr.strip()[:400]):
            continue
        resolved = json.loads(r.stdout[r.stdout.index("{"):])

        def on_key(ptr, k, v, subs):
            try:  # keys the minimal scenario gives are not defaults
                given = doc
                for t in ptr_tokens(ptr_join(ptr, k)):
                    given = given[int(t)] if isinstance(given, list) else given[t]
                return
            except (KeyError, IndexError, ValueError, TypeError):
                pass
            for s in subs:
                has, default, kind = walker.default_and_kind(s)
                if not has or default is None:
                    continue
                want = [base_units(x, kind) for x in default] if isinstance(default, list) else base_units(default, kind)
                for pattern, sd, derive in RESOLVED_DEFAULTS:
                    if re.search(pattern, ptr_join(ptr, k)) and default == sd:
                        want = derive(doc)
                got = v
                same = (want == got if not isinstance(want, float) and not isinstance(got, float)
                        else math.isclose(float(want), float(got), rel_tol=1e-12))
                compared.append(ptr_join(ptr, k))
                if not same:
                    bad.append(f"{doc['name']}{ptr_join(ptr, k)}: schema default {default!r}, reader {v!r}")
                break

        walker.walk(resolved, schema, "", on_key)
    c.ok(not bad and len(compared) >= 60,
         f"the schema's defaults equal the reader's ({len(compared)} values compared)", "; ".join(bad[:8]))
    # Every schema default must have been compared somewhere (no stale property).
    seen = {p.rsplit("/", 1)[-1] for p in compared}
    declared = set()

    def collect(s):
        if isinstance(s, dict):
            for k, sub in s.get("properties", {}).items():
                if walker.default_and_kind(sub)[0] and walker.default_and_kind(sub)[1] is not None:
                    declared.add(k)
            for v in s.values():
                collect(v)
        elif isinstance(s, list):
            for v in s:
                collect(v)

    collect(schema)
    c.ok(declared <= seen, "every property with a default appears in a minimal resolved scenario",
         "not seen: " + ", ".join(sorted(declared - seen)))

    print("\ngenerators, VMM policies, tiers, kernel variants and daemons: `vmemsim list` and `vmemsim describe` "
          "against the schema")
    r = run(binary, "list")
    sections = re.split(r"^(?=\S)", r.stdout, flags=re.M)
    heads = {"workload generators": "generators", "VMM policies": "policies", "tiers": "tiers",
             "kernel variants": "variants", "kernel sections": "daemons"}
    listed = {}
    for sec in sections:
        head = sec.split("\n", 1)[0]
        key = next((v for h, v in heads.items() if head.startswith(h + " (")), None)
        if key:
            listed[key] = re.findall(r"^  (\S+)\s{2,}", sec, re.M)
    c.ok(r.returncode == 0 and set(listed) == set(heads.values()), "`vmemsim list` has every section",
         f"sections: {sorted(listed)}")
    c.ok(listed.get("generators") == gens, "workload type enum = `vmemsim list` (same order)",
         f"list: {listed.get('generators')}, schema: {gens}")
    c.ok(listed.get("policies") == policies, "vmm policy enum = `vmemsim list` (same order)",
         f"list: {listed.get('policies')}, schema: {policies}")
    c.ok(listed.get("tiers") == kinds, "tier kind enum = `vmemsim list` (same order)",
         f"list: {listed.get('tiers')}, schema: {kinds}")
    variants = [v for v in walker.target("#/$defs/kernel/properties/variant")["enum"] if v is not None]
    c.ok(listed.get("variants") == variants, "kernel.variant enum = `vmemsim list` (same order)",
         f"list: {listed.get('variants')}, schema: {variants}")
    for wdef in ("workload", "phase_workload"):
        branches = {b["if"]["properties"]["type"]["const"]: b["then"] for b in walker.target(f"#/$defs/{wdef}")["allOf"]}
        c.ok(sorted(branches) == sorted(gens), f"$defs/{wdef} has one if/then branch per generator", str(sorted(branches)))
    vcpu_level = ("type", "write_ratio", "rate", "region_offset", "region_size", "device_share", "device_honor_numa_fault")
    c.ok(set(vcpu_level) <= set(walker.target("#/$defs/workload")["properties"]),
         "$defs/workload declares every vCPU-level key")

    def described(name, header):
        """{key: default or None, ...} of `vmemsim describe name`'s `header` section, and the raw rest."""
        r = run(binary, "describe", name)
        m = re.search(r"^" + re.escape(header) + r":\n((?:.*\n?)*)", r.stdout, re.M)
        params, rest = {}, {}
        for key, more in re.findall(r"^  (\w+) \((.*)\)$", m.group(1) if m else "", re.M):
            dm = re.search(r"default ((?:\[[^\]]*\]|[^,])*)", more)
            params[key] = json.loads(dm.group(1)) if dm else None
            rest[key] = more
        return (params if m else None), rest

    def compare(what, params, props, skip):
        own = {k: s for k, s in props.items() if k not in skip}
        bad = [f"{k}: describe {params.get(k)!r} vs schema {walker.default_and_kind(own[k])[1]!r}"
               for k in set(params or {}) & set(own) if walker.default_and_kind(own[k])[1] != params[k]]
        c.ok(params is not None and set(params) == set(own) and not bad, what,
             f"describe: {sorted(params or {})}, schema: {sorted(own)}; {'; '.join(bad)}")

    for g in listed.get("generators", []):
        params, _ = described(g, f"parameters of {g}")
        then = {b["if"]["properties"]["type"]["const"]: b["then"] for b in walker.target("#/$defs/workload")["allOf"]}[g]
        compare(f"{g}: keys and defaults match `vmemsim describe {g}`", params, then["properties"], vcpu_level)

    vmm_branches = {}
    for b in walker.target("#/$defs/vmm")["allOf"]:
        pol = b["if"]["properties"]["policy"]
        for p in pol.get("enum", [pol.get("const")]):
            vmm_branches[p] = b["then"]
    c.ok(set(vmm_branches) == set(walker.target("#/$defs/policy")["enum"]),
         "$defs/vmm has an if/then branch for every policy (none and null share one)", str(sorted(map(str, vmm_branches))))
    c.ok(set(vmm_branches.get("none", {}).get("properties", {})) == {"policy"}, "policy none allows no other key")
    # The tier: one if/then branch per kind (ssd also takes an absent or null kind), each with
    # only its own keys; a policy's describe lists every kind's keys, `describe <kind>` one kind's.
    tier = walker.target("#/$defs/tier")
    tier_branches = {}
    for b in tier.get("allOf", []):
        kd = b["if"]["properties"]["kind"]
        for k in kd.get("enum", [kd.get("const")]):
            tier_branches[k] = b["then"]
    c.ok(set(tier_branches) == set(tier["properties"]["kind"]["enum"]),
         "$defs/tier has an if/then branch for every kind (ssd and null share one)", str(sorted(map(str, tier_branches))))
    c.ok(all(b.get("additionalProperties") is False for b in tier_branches.values()),
         "every tier kind's branch allows no key of another kind (additionalProperties false)")
    # (a key several kinds take, such as queue_depth, is listed once, where it first appears)
    tier_keys = list(dict.fromkeys(["kind"] + [k for kind in kinds for k in tier_branches.get(kind, {}).get("properties", {})
                                               if k != "kind"]))
    for p in policies:
        if p == "none":
            continue
        params, rest = described(p, f"parameters of {p}")
        compare(f"{p}: keys and defaults match `vmemsim describe {p}`", params, vmm_branches[p]["properties"], ("policy",))
        tm = re.match(r"object: kind ([\w|-]+)((?:, \w+)*)$", rest.get("tier", ""))
        said = ["kind"] + (tm.group(2).split(", ")[1:] if tm else [])
        c.ok(tm is not None and tm.group(1).split("|") == kinds and said == tier_keys,
             f"{p}: tier kinds and keys match `vmemsim describe {p}`",
             f"describe: {rest.get('tier')!r}, schema: {tier_keys} {kinds}")
    for k in kinds:
        params, _ = described(k, f"keys of vmm.tier with kind {k}")
        compare(f"tier {k}: keys and defaults match `vmemsim describe {k}`", params,
                tier_branches.get(k, {}).get("properties", {}), ("kind",))
    c.ok(tier["propertyNames"]["enum"] == tier_keys, "$defs/tier propertyNames = the union of the kinds' keys",
         f"propertyNames: {tier['propertyNames']['enum']}, branches: {tier_keys}")
    prop_enum = walker.target("#/$defs/vmm")["propertyNames"]["enum"]
    union = set().union(*(set(b.get("properties", {})) for b in vmm_branches.values()))
    c.ok(set(prop_enum) == union, "$defs/vmm propertyNames = the union of the policies' keys",
         f"propertyNames: {sorted(prop_enum)}, branches: {sorted(union)}")

    # Kernel daemons: each registered daemon reads the object kernel.<name>; the kernel has no
    # other sections than its fixed ones and the daemons'.
    kernel = walker.target("#/$defs/kernel")["properties"]
    fixed = ("variant", "patches", "mm", "costs")
    daemons = listed.get("daemons") or []
    c.ok(daemons and set(kernel) == set(fixed) | set(daemons),
         "$defs/kernel = its fixed keys + one section per daemon in `vmemsim list`",
         f"schema: {sorted(kernel)}, daemons: {daemons}")
    for d in daemons:
        sec = kernel.get(d, {})
        while isinstance(sec, dict) and "$ref" in sec and "properties" not in sec:
            sec = walker.target(sec["$ref"])
        params, _ = described(d, f"keys of kernel.{d}")
        is_obj = isinstance(sec, dict) and sec.get("type") == "object" and sec.get("additionalProperties") is False
        c.ok(is_obj, f"kernel.{d}: an object with no other key", json.dumps(sec)[:200])
        compare(f"daemon {d}: kernel.{d} keys and defaults match `vmemsim describe {d}`", params,
                sec.get("properties", {}) if isinstance(sec, dict) else {}, ())

    print(f"\n{c.count - len(c.failures)}/{c.count} checks passed")
    if c.failures:
        print("FAILED:\n  " + "\n  ".join(c.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
