"""cloud-init's side of strap's schema conformance test (tests/tests/it/schema.rs).

    python3 schema_oracle.py generate EXAMPLES_DIR MODULE...
        prints a JSON list of cloud-configs (YAML texts) for the modules named: each
        module-docs example of theirs, and variants of them and of their schema with a
        wrong value, an unknown property or a value outside an enum at each place.
    python3 schema_oracle.py keys
        prints the top-level keys this cloud-init's schema knows.
    python3 schema_oracle.py judge
        reads such a list on stdin and prints, for each text, the sorted error paths of
        cloud-init's validator (strict, as `cloud-init schema` runs it; deprecations are
        not errors) and whether this cloud-init's schema knows every top-level key.

Run it with the Python that imports the cloud-init to ask.
"""

import copy
import glob
import json
import os
import sys

import yaml
from cloudinit.config import schema as cs

# Wrong values put in place of each value: one of each JSON type, and text no enum
# holds; in place of a number also a boolean and a negative one.
WRONG = [5, "not-a-choice", None, [1], {"zz_unknown": 1}]
WRONG_FOR_NUMBERS = [True, -1]
UNKNOWN = "zz_unknown"


def resolve(schema, defs):
    while isinstance(schema, dict) and "$ref" in schema:
        schema = defs[schema["$ref"].split("/")[-1]]
    return schema


def property_names(schema, defs, depth=0):
    """The properties an object schema (or its oneOf/anyOf options) names."""
    schema = resolve(schema, defs)
    if not isinstance(schema, dict) or depth > 3:
        return {}
    props = dict(schema.get("properties", {}))
    for key in ("oneOf", "anyOf", "allOf"):
        for option in schema.get(key, []):
            for name, sub in property_names(option, defs, depth + 1).items():
                props.setdefault(name, sub)
    return props


def places(node, path=()):
    """Every path in a document (two items of each list at most)."""
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from places(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node[:2]):
            yield from places(value, path + (i,))


def replaced(doc, path, value):
    doc = copy.deepcopy(doc)
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


def with_unknown(doc, path):
    doc = copy.deepcopy(doc)
    node = doc
    for step in path:
        node = node[step]
    node[UNKNOWN] = 1
    return doc


def dump(doc):
    return "#cloud-config\n" + yaml.safe_dump(doc, default_flow_style=False, sort_keys=False)


def generate(examples_dir, modules):
    full = cs.get_schema()
    defs = full["$defs"]
    docs, seen = [], set()

    def add(doc, key):
        text = dump(doc)
        if key is None or key not in seen:
            if key is not None:
                seen.add(key)
            docs.append(text)

    def variants(doc, module, tag=""):
        for path in places(doc):
            if not path:
                continue
            # One variant per place shape (list indices folded) and wrong value.
            shape = (tag,) + tuple("#" if isinstance(p, int) else p for p in path)
            node = doc
            for step in path:
                node = node[step]
            wrong = list(WRONG)
            if isinstance(node, (int, float)) and not isinstance(node, bool):
                wrong += WRONG_FOR_NUMBERS
            for value in wrong:
                add(replaced(doc, path, value), (module, shape, repr(value)))
            if isinstance(node, dict) and UNKNOWN not in node:
                add(with_unknown(doc, path), (module, shape, "unknown"))

    for module in modules:
        for file in sorted(glob.glob(os.path.join(examples_dir, module, "*.yaml"))):
            with open(file, encoding="utf-8") as f:
                example = yaml.safe_load(f)
            if not isinstance(example, dict):
                continue
            add(example, None)
            variants(example, module)
        # From the schema: each property of each key, alone, then wrong.
        for key, sub in defs.get(module, {}).get("properties", {}).items():
            props = property_names(sub, defs)
            variants({key: {}}, module)
            for name in props:
                variants({key: {name: "x"}}, module)
            # Entries under any name: each property alone, under each `type` they name.
            for child in resolve(sub, defs).get("patternProperties", {}).values():
                kinds = [None]
                for option in resolve(child, defs).get("oneOf", []):
                    kinds += option.get("properties", {}).get("type", {}).get("enum", [])
                for kind in kinds:
                    entry = {} if kind is None else {"type": kind}
                    variants({key: {"entry": entry}}, module, str(kind))
                    for name in property_names(child, defs):
                        if name != "type":
                            doc = {key: {"entry": dict(entry, **{name: "x"})}}
                            variants(doc, module, str(kind))
    json.dump(docs, sys.stdout)


def known_keys(full):
    keys = set(full.get("properties", {}))
    for part in full.get("allOf", []):
        keys |= set(resolve(part, full["$defs"]).get("properties", {}))
    return keys


def judge():
    docs = json.load(sys.stdin)
    full = cs.get_schema()
    known = known_keys(full)
    out = []
    for text in docs:
        config = yaml.safe_load(text)
        try:
            cs.validate_cloudconfig_schema(
                config, schema=full, strict=True, log_deprecations=False
            )
            problems = []
        except cs.SchemaValidationError as e:
            problems = sorted({(p.path, p.message) for p in e.schema_errors})
        out.append(
            {
                "paths": sorted({path for path, _ in problems}),
                "problems": problems,
                "known": all(k in known for k in config),
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "keys":
        json.dump(sorted(known_keys(cs.get_schema())), sys.stdout)
    else:
        judge()
