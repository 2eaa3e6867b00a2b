#!/usr/bin/env python3
"""The iOS checks that run without a Mac (tests/run.sh runs them).

1. Syntax: every Swift file under ios/ (except the copied generated API) parses with the tree-sitter Swift
   grammar, with no ERROR or MISSING node. A parser is not a compiler: types, overloads, availability and
   actor isolation are checked only by Xcode on a Mac (ios/README.md).
2. Binding symbols: every name the Swift layer and app use must be declared by the layer itself, appear in
   the freshly generated Swift API (every bindings/generated/swift/*.swift: one file per core crate's
   namespace and zhangban_ffi.swift for the objects), or be one of the
   Apple/Swift names listed in tools/swift_platform_names.txt. A function, type, field, case or argument
   label the FFI renamed or dropped is then reported with its file and line. (The list must not hold a name
   the generated API declares; `--list-unknown` prints what is neither, to review before adding.)
3. The app's words: every `String(localized: "…")` literal in ios/App/Sources (one without `\(…)`) is a key
   of ios/App/Sources/Localizable.xcstrings with a zh-Hans translation (else the Chinese screen shows the
   English key).
4. Privacy keys: an app that uses a protected device (the camera: `AVCaptureDevice`; Face ID: `LAContext`, in
   the kit it links) has its usage description in ios/App/project.yml's Info.plist properties (without it iOS
   ends the app at the camera's first use, and Face ID is refused).

    python3 tools/swift_check.py [--generated PATH] [--list-unknown]
Needs the PyPI packages tree-sitter and tree-sitter-swift on PYTHONPATH (tests/run.sh installs them into
target/pytools).
"""
import argparse
import json
import pathlib
import re
import sys

import tree_sitter
import tree_sitter_swift

ROOT = pathlib.Path(__file__).resolve().parent.parent
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
IDENT = {"simple_identifier", "type_identifier"}
# A name directly under one of these nodes is declared there (a binding, not a use).
BINDING_PARENTS = {
    "pattern", "enum_entry", "parameter", "lambda_parameter", "function_declaration", "property_declaration",
    "typealias_declaration", "protocol_function_declaration", "protocol_property_declaration",
    "class_declaration", "protocol_declaration", "for_statement", "if_statement", "guard_statement",
    "value_binding_pattern", "catch_block", "type_parameter", "associatedtype_declaration",
}


def swift_files():
    for p in sorted((ROOT / "ios").rglob("*.swift")):
        if "Generated" not in p.parts and ".build" not in p.parts:
            yield p


def walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def text(src, n):
    return src[n.start_byte:n.end_byte].decode("utf-8")


def syntax_errors(path):
    src = path.read_bytes()
    tree = PARSER.parse(src)
    errors = []
    for n in walk(tree.root_node):
        if n.type == "ERROR" or n.is_missing:
            kind = "missing " + n.type if n.is_missing else "cannot parse"
            snippet = text(src, n).splitlines()[0][:60] if n.end_byte > n.start_byte else ""
            errors.append(f"{path.relative_to(ROOT)}:{n.start_point[0] + 1}:{n.start_point[1] + 1}: {kind} '{snippet}'")
    return errors


def names(path):
    """(declared names, [(name, line)] used) of one file."""
    src = path.read_bytes()
    tree = PARSER.parse(src)
    declared, used = set(), []
    for n in walk(tree.root_node):
        if n.type not in IDENT:
            continue
        name = text(src, n).strip("`").lstrip("$")  # $form: the projection of a declared property
        parent = n.parent.type if n.parent else ""
        if parent in BINDING_PARENTS:
            declared.add(name)
        else:
            used.append((name, n.start_point[0] + 1))
    return declared, used


APP = ROOT / "ios/App/Sources"
CATALOG = APP / "Localizable.xcstrings"
LOCALIZED = re.compile(r'String\(localized:\s*"((?:[^"\\\n]|\\.)*)"')


def untranslated(files, catalog):
    """[(file, line, key)] of the app's `String(localized: "key")` literals without a zh-Hans translation."""
    strings = catalog.get("strings", {})
    found = []
    for f in files:
        if APP not in f.parents:
            continue
        for number, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            for m in LOCALIZED.finditer(line):
                if "\\(" in m.group(1):
                    continue  # a format string: its key is spelled with %lld / %@
                key = re.sub(r"\\(.)", r"\1", m.group(1))
                zh = strings.get(key, {}).get("localizations", {}).get("zh-Hans", {})
                if not zh.get("stringUnit", {}).get("value") and not zh.get("variations"):
                    found.append((f, number, key))
    return found


PROJECT = ROOT / "ios/App/project.yml"
KIT_SOURCES = ROOT / "ios/Sources"
# (the kit's Keychain vault asks for Face ID with an `LAContext`: the app links the kit, so its usage counts too)
PRIVACY = {"AVCaptureDevice": "NSCameraUsageDescription", "LAContext": "NSFaceIDUsageDescription"}


def missing_privacy_keys(files, project_yml):
    """[(API, Info.plist key)] for a protected API the app uses without its usage description in project.yml."""
    used = {api for f in files if APP in f.parents or KIT_SOURCES in f.parents for api in PRIVACY
            if re.search(rf"\b{api}\b", f.read_text(encoding="utf-8"))}
    return [(api, PRIVACY[api]) for api in sorted(used)
            if not re.search(rf"^\s+{PRIVACY[api]}:[ \t]*\S", project_yml, re.MULTILINE)]


def unknown_names(files, gen_src, platform):
    gen_names = {text(gen_src, n).strip("`") for n in walk(PARSER.parse(gen_src).root_node) if n.type in IDENT}
    declared, uses = set(), []
    for f in files:
        d, u = names(f)
        declared |= d
        uses += [(f, name, line) for name, line in u]
    unknown = [(f, n, line) for f, n, line in uses if n not in declared and n not in gen_names and n not in platform]
    ffi_uses = {n for _, n, _ in uses if n in gen_names and n not in declared and n not in platform}
    return unknown, ffi_uses, sorted(platform & gen_names)


def self_test(files, gen_src, platform, catalog, project_yml):
    """The check must fail when the FFI renames what the layer calls: rename each of a few used names."""
    _, ffi_uses, _ = unknown_names(files, gen_src, platform)
    probes = [n for n in ("catalogSearch", "ZhangbanStore", "openOrCreate", "submitDraft", "textZh") if n in ffi_uses]
    assert len(probes) >= 3, f"the Swift layer should use these FFI names: {probes}"
    for name in probes:
        renamed = gen_src.replace(name.encode(), (name + "Renamed").encode())
        unknown, _, _ = unknown_names(files, renamed, platform)
        assert any(n == name for _, n, _ in unknown), f"renaming {name} in the generated Swift went unnoticed"
    print(f"self-test: renaming any of {probes} in the generated Swift is reported")
    broken = PARSER.parse(b"struct A { func f( { let x = }")
    assert any(n.type == "ERROR" or n.is_missing for n in walk(broken.root_node)), "a broken file parsed cleanly"
    print("self-test: a broken Swift snippet is reported")
    used = sorted({k for f in files if APP in f.parents for k in LOCALIZED.findall(f.read_text(encoding="utf-8"))
                   if "\\" not in k})
    assert len(used) > 10, f"the app should look up its words: {used}"
    for key in (used[0], used[len(used) // 2], used[-1]):
        strings = {k: v for k, v in catalog["strings"].items() if k != key}
        reported = {k for _, _, k in untranslated(files, {"strings": strings})}
        assert key in reported, f"dropping {key!r} went unnoticed"
    print("self-test: dropping a used key from Localizable.xcstrings is reported")
    assert not missing_privacy_keys(files, project_yml)
    for key in sorted(set(PRIVACY.values())):
        dropped = re.sub(rf"^\s+{key}:.*$", "", project_yml, flags=re.MULTILINE)
        assert missing_privacy_keys(files, dropped), f"dropping {key} from project.yml went unnoticed"
    print(f"self-test: dropping {sorted(set(PRIVACY.values()))} from project.yml is reported")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generated", default=str(ROOT / "bindings/generated/swift"),
                    help="the generated Swift API: a folder (every *.swift in it) or one file")
    ap.add_argument("--list-unknown", action="store_true")
    ap.add_argument("--self-test", action="store_true", help="also check that a renamed FFI name is caught")
    args = ap.parse_args()

    files = list(swift_files())
    errors = [e for f in files for e in syntax_errors(f)]
    print(f"swift syntax: {len(files)} files parsed, {len(errors)} error(s)")
    for e in errors:
        print("  " + e)

    generated = pathlib.Path(args.generated)
    gen_files = sorted(generated.glob("*.swift")) if generated.is_dir() else [generated]
    if not gen_files or not all(f.is_file() for f in gen_files) or not any(f.name == "zhangban_ffi.swift"
                                                                             for f in gen_files):
        print(f"swift_check: {generated} holds no generated zhangban_ffi.swift: run bindings/generate.sh swift first",
              file=sys.stderr)
        return 1
    # One source of every generated file: the Swift layer sees all the namespaces of the one module.
    gen_src = b"\n".join(f.read_bytes() for f in gen_files)
    platform_file = ROOT / "tools/swift_platform_names.txt"
    platform = {
        line.split("#")[0].strip() for line in platform_file.read_text(encoding="utf-8").splitlines()
    } - {""}
    unknown, ffi_uses, shadowing = unknown_names(files, gen_src, platform)

    if args.list_unknown:
        for name in sorted({name for _, name, _ in unknown}):
            print(name)
        return 0
    print(f"binding symbols: {len(ffi_uses)} names from the generated API used by the Swift layer and app, "
          f"{len({n for _, n, _ in unknown})} unknown")
    for f, name, line in unknown:
        print(f"  {f.relative_to(ROOT)}:{line}: '{name}' is not in the generated Swift API, not declared in ios/, "
              "and not a listed Apple/Swift name (renamed or removed from the FFI?)")
    for name in shadowing:
        print(f"  tools/swift_platform_names.txt lists '{name}', which the generated API declares: remove it")
    catalog = json.loads(CATALOG.read_text(encoding="utf-8"))
    missing = untranslated(files, catalog)
    print(f"app words: {len(missing)} String(localized:) key(s) without a zh-Hans translation in Localizable.xcstrings")
    for f, line, key in missing:
        print(f"  {f.relative_to(ROOT)}:{line}: {key!r}")
    project_yml = PROJECT.read_text(encoding="utf-8")
    privacy = missing_privacy_keys(files, project_yml)
    print(f"privacy keys: {len(privacy)} protected API(s) used without a usage description in project.yml")
    for api, key in privacy:
        print(f"  the app uses {api}: ios/App/project.yml's info properties need {key}")
    failed = bool(errors or unknown or shadowing or missing or privacy)
    if args.self_test and not failed:
        self_test(files, gen_src, platform, catalog, project_yml)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
