#!/usr/bin/env python3
"""The layering check (first step of tests/run.sh).

1. Crate layers: reads `cargo metadata` and fails when a Zhangban crate depends (normal, dev or build
   dependency) on a Zhangban crate it may not use — an arrow pointing up or sideways in the diagram of
   docs/ARCHITECTURE.md. Also fails when a core crate depends on UniFFI in its default build.
2. Module cycles: inside every core crate, the top-level modules (src/x.rs or src/x/) must not form a cycle
   through `crate::x` / `super::x` paths (the crate root, which declares and re-exports them, is left out).
3. Thin bindings: counts the code lines of bindings/src/*.rs (before each file's first `#[cfg(test)]`; blank
   and comment-only lines not counted) and fails above BINDINGS_LIMIT. The limit is a ratchet: lower it
   when lines move to the core; the goal of issue 9 is BINDINGS_GOAL.

Exit 0 and one line per crate when the tree matches; exit 1 naming every offending edge otherwise.
Standard library only.
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASE = "zhangban-base"
CALENDAR = "zhangban-calendar"
WALLET = "zhangban-wallet"
CATALOG = "zhangban-catalog"
FORMS = "zhangban-forms"
CASES = "zhangban-cases"
REMIND = "zhangban-remind"
AGENT = "zhangban-agent"
SYNC = "zhangban-sync"
BACKUP = "zhangban-backup"
CORE = "zhangban-core"

CORE_CRATES = [BASE, CALENDAR, WALLET, CATALOG, FORMS, CASES, AGENT, REMIND, SYNC, BACKUP]

# Which Zhangban crates each crate may depend on: the layer diagram of docs/ARCHITECTURE.md.
# base -> features (calendar, wallet, catalog; forms on catalog + wallet; cases on forms + calendar; agent on
# forms + cases) -> sync.
ALLOWED = {
    BASE: set(),
    CALENDAR: {BASE},
    WALLET: {BASE},
    CATALOG: {BASE},
    FORMS: {BASE, CATALOG, WALLET},
    CASES: {BASE, CALENDAR, CATALOG, FORMS, WALLET},
    # Agent mode drives forms' drafts and cases' submissions for principals; sync carries its revocations.
    AGENT: {BASE, CALENDAR, CATALOG, FORMS, CASES, WALLET},
    # Reminders read every feature (cases, wallet, forms' drafts, the catalog's renewal items); sync runs them.
    REMIND: {BASE, CALENDAR, CATALOG, FORMS, CASES, WALLET},
    # Sync also tells the platform which backup generation the phone reached (issue 14, ADR 0021).
    SYNC: {BASE, CALENDAR, CATALOG, FORMS, CASES, AGENT, REMIND, WALLET, BACKUP},
    # The backup is a feature on base alone: it moves records, it does not read them.
    BACKUP: {BASE},
    CORE: set(CORE_CRATES),
    # Above the core: the FFI facade and the test crates may use any core crate, never each other.
    "zhangban-ffi": set(CORE_CRATES) | {CORE},
    "zhangban-sandbox": set(CORE_CRATES) | {CORE},
    # The benchmark binary (tests/bench.sh) runs the sync row against the sandbox platform.
    "zhangban-bench": set(CORE_CRATES) | {CORE, "zhangban-sandbox"},
    "zhangban-fuzz-harness": set(CORE_CRATES) | {CORE},
    "uniffi-bindgen": set(),
}

# Third-party crates that a core crate may not have in its default build.
FORBIDDEN_IN_CORE_DEFAULT = {"uniffi"}


def metadata():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:  # --offline fails on a cold cache: ask the registry once
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout)


def check_crates(meta, problems):
    names = {p["name"] for p in meta["packages"]}
    zhangban = {n for n in names if n.startswith("zhangban-") or n == "uniffi-bindgen"}
    for n in sorted(zhangban):
        if n not in ALLOWED:
            problems.append(f"{n}: not in the layer table of tests/check_layers.py (add it, and to docs/ARCHITECTURE.md)")
    for p in meta["packages"]:
        name = p["name"]
        if name not in ALLOWED:
            continue
        used = set()
        for d in p["dependencies"]:
            dep = d["name"]
            kind = d.get("kind") or "normal"
            if dep in zhangban and dep != name:
                used.add(dep)
                if dep not in ALLOWED[name]:
                    problems.append(f"{name} -> {dep} ({kind} dependency): points up or sideways in the layer diagram")
            if name in CORE_CRATES + [CORE] and dep in FORBIDDEN_IN_CORE_DEFAULT and not d.get("optional"):
                problems.append(f"{name} -> {dep}: a core crate may use {dep} only behind an optional feature")
        print(f"  {name:18} -> {', '.join(sorted(used)) or '(none)'}")


USE_RE = re.compile(r"\b(crate|super(?:::super)*)::")


def use_tree_heads(text, i):
    """The first path segments a use tree or path starting at `text[i]` names: `x::…` gives `x`;
    `{a::{b, c}, d}` gives `a` and `d` (groups nest; only the top level of the group is a module)."""
    if i < len(text) and text[i] == "{":
        depth, j, start, heads = 0, i, i + 1, []
        while j < len(text):
            c = text[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            if c == "," and depth == 1:
                heads.append(text[start:j])
                start = j + 1
            j += 1
        heads.append(text[start:j])
        return [m.group(0) for h in heads for m in [re.match(r"[A-Za-z_][A-Za-z0-9_]*", h.strip())] if m]
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i:])
    return [m.group(0)] if m else []


def root_reexports(src, top):
    """Names the crate root re-exports from a top-level module (`pub use x::{A, b::C as D};` gives A and D
    -> x), so that `crate::A` in another module counts as an edge to x, not as a use of the root."""
    names = {}
    root = os.path.join(src, "lib.rs")
    if not os.path.exists(root):
        return names
    text = strip_comments(open(root, encoding="utf-8").read())
    for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+(?:self::|crate::)?([a-z_][a-z0-9_]*)::([^;]*);", text):
        module, rest = m.group(1), m.group(2)
        if module not in top:
            continue
        for t in re.finditer(r"\b([A-Za-z_]\w*)\b(?:\s+as\s+([A-Za-z_]\w*))?(?!\s*::)", rest):
            name = t.group(2) or t.group(1)
            if name not in ("self", "as", "_"):
                names[name] = module
    return names


def module_of(src, path):
    rel = os.path.relpath(path, src)
    head = rel.split(os.sep)[0]
    if head in ("lib.rs", "main.rs"):
        return None
    return head[:-3] if head.endswith(".rs") else head


def depth_in_module(src, path):
    """How many `super`s from this file reach the crate root."""
    rel = os.path.relpath(path, src)
    parts = rel.split(os.sep)
    if len(parts) == 1:
        return 1  # src/x.rs: super = crate root
    last = parts[-1]
    d = len(parts) - 1  # src/x/y.rs -> module x::y, super::super = root
    return d if last == "mod.rs" else d + 1


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def check_modules(crate_dir, crate, problems):
    src = os.path.join(crate_dir, "src")
    top = set()
    for entry in os.listdir(src):
        full = os.path.join(src, entry)
        if entry.endswith(".rs") and entry not in ("lib.rs", "main.rs"):
            top.add(entry[:-3])
        elif os.path.isdir(full):
            top.add(entry)
    edges = {m: set() for m in top}
    reexported = root_reexports(src, top)
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            me = module_of(src, path)
            if me is None:
                continue
            depth = depth_in_module(src, path)
            text = strip_comments(open(path, encoding="utf-8").read())
            for m in USE_RE.finditer(text):
                prefix = m.group(1)
                if prefix != "crate" and prefix.count("super") != depth:
                    continue  # a super:: that stays inside this module
                for n in use_tree_heads(text, m.end()):
                    n = n if n in top else reexported.get(n) if prefix == "crate" or depth == 1 else None
                    if n in top and n != me:
                        edges[me].add(n)
    # cycle search (DFS)
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for t in sorted(edges[n]):
            if state.get(t) == 1:
                cyc = stack[stack.index(t):] + [t]
                problems.append(f"{crate}: module cycle {' -> '.join(cyc)}")
            elif t not in state:
                visit(t)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    return sum(len(v) for v in edges.values())


BINDINGS_LIMIT = 1352  # 1,387 - 10 (layers7: one blocking helper, guard_ffi for any mapped error, ADR 0034) - 5 (sec7a: finding 6 typed, paid for by exports from the core) + 2 (ui7: lock_after_background and the registration signer, ADR 0029) - 23 (lay8: the error's Display from the core; three exports moved to the crates that own them, ADR 0037) + 7 (lead: the platform signer's two failures mapped to the core's NeedsUserAuthentication and DeviceKeyUnavailable, ADR 0035 addendum) - 2 (lead: the search cap and the rating day are the core's, MAX_HITS and cases::rate_today) - 1 (shard10: refresh_lists' every_shard default, paid for by set_revocations on one line, ADR 0039) - 3 (lead: ZhangbanDraft.set_as_agent removed, the editor is the core's)
BINDINGS_GOAL = 1200


def bindings_code_lines(path):
    """Code lines of one bindings file: before its first `#[cfg(test)]`, not blank, not comment-only."""
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            t = line.strip()
            if t.startswith("#[cfg(test)]"):
                break
            if t and not t.startswith("//"):
                n += 1
    return n


def check_bindings(problems):
    src = os.path.join(ROOT, "bindings", "src")
    counts = {f: bindings_code_lines(os.path.join(src, f)) for f in sorted(os.listdir(src)) if f.endswith(".rs")}
    total = sum(counts.values())
    for f, n in sorted(counts.items(), key=lambda x: -x[1]):
        print(f"  {f:12} {n:5}")
    print(f"  {'total':12} {total:5} (limit {BINDINGS_LIMIT}, goal {BINDINGS_GOAL})")
    if total > BINDINGS_LIMIT:
        problems.append(f"bindings/src: {total} code lines, above the limit of {BINDINGS_LIMIT}: move what is "
                        "not FFI plumbing (wording, rules, parsing, records) into the core")


def self_test():
    """The module-cycle search must see the three ways a module names another: a path, a nested use group
    and a name the crate root re-exports (the forms crate hid draft -> profile -> state -> draft that way
    until this check learnt it). Each case is a small crate written to a temporary folder."""
    import tempfile

    cases = {
        "path": ({"a.rs": "fn f() { crate::b::g() }", "b.rs": "pub fn g() { super::a::h() }"}, True),
        "nested group": ({"a.rs": "use crate::{c::{X, Y}, b};", "b.rs": "use crate::a::Z;", "c.rs": ""}, True),
        "root re-export": ({"a.rs": "use crate::G;", "b.rs": "use crate::a::H;"}, True),
        "re-export, no cycle": ({"a.rs": "use crate::G;", "b.rs": "pub fn g() {}"}, False),
        "inner super stays inside": ({"a/mod.rs": "mod x;", "a/x.rs": "use super::b;", "b.rs": "use crate::a;"}, False),
    }
    failed = []
    for name, (files, cyclic) in cases.items():
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "src")
            os.makedirs(os.path.join(src, "a"), exist_ok=True) if any(f.startswith("a/") for f in files) else None
            os.makedirs(src, exist_ok=True)
            with open(os.path.join(src, "lib.rs"), "w") as f:
                f.write("mod a; mod b;\npub use b::{g as G};\npub use self::a::{f as H};\n")
            for rel, text in files.items():
                with open(os.path.join(src, rel), "w") as f:
                    f.write(text + "\n")
            problems = []
            check_modules(d, "t", problems)
            if bool(problems) != cyclic:
                failed.append(f"{name}: expected {'a cycle' if cyclic else 'none'}, got {problems}")
    for x in failed:
        print("self-test FAILED: " + x, file=sys.stderr)
    print(f"module-cycle self-test: {len(cases) - len(failed)}/{len(cases)} cases right")
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    problems = []
    meta = metadata()
    print("crate dependencies (Zhangban crates only):")
    check_crates(meta, problems)
    print("module edges inside each core crate:")
    for p in meta["packages"]:
        if p["name"] in CORE_CRATES:
            crate_dir = os.path.dirname(p["manifest_path"])
            n = check_modules(crate_dir, p["name"], problems)
            print(f"  {p['name']:18} {n} edges between top-level modules, no cycle" if not any(
                x.startswith(p["name"] + ":") for x in problems) else f"  {p['name']:18} CYCLE")
    print("bindings/src code lines (non-test, no blank or comment-only lines):")
    check_bindings(problems)
    if problems:
        print("\nlayering check FAILED:", file=sys.stderr)
        for x in problems:
            print("  " + x, file=sys.stderr)
        return 1
    print("layering check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
