#!/usr/bin/env python3
"""Kubernetes JSON schemas for kubeconform, from the API server's swagger.json (stdlib only).

    k8s_json_schemas.py SWAGGER_JSON OUT_DIR

Writes one file per group/version/kind in kubeconform's layout, e.g. OUT_DIR/deployment-apps-v1.json
(OUT_DIR is <schema-location>/v1.35.8-standalone-strict). It does what the well-known
openapi2jsonschema does for `--expanded --kubernetes --stand-alone --strict`, except that a file
keeps the definitions it needs under "definitions" instead of inlining them, which keeps the
recursive ones (JSONSchemaProps) valid and the files small:

- strict: every object schema that declares properties gets additionalProperties: false, so a
  misspelled field is an error (the API server would drop it silently);
- IntOrString accepts a string or an integer, Quantity a string or a number (as kubectl does);
- apiVersion and kind are pinned to the file's own group/version/kind.

Fails on any schema keyword it does not know, so that a new swagger construct is not validated
wrongly without anyone noticing.
"""
import json
import os
import sys

KNOWN = {"$ref", "additionalProperties", "description", "format", "items", "properties", "required", "type"}
OVERRIDES = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}
REF_PREFIX = "#/definitions/"


def strict(schema, where):
    """A copy of schema with additionalProperties: false on objects with properties."""
    unknown = {k for k in schema if k not in KNOWN and not k.startswith("x-kubernetes-")}
    if unknown:
        sys.exit(f"k8s_json_schemas: unknown schema keyword(s) {sorted(unknown)} at {where}")
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: strict(v, f"{where}.{k}") for k, v in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    if isinstance(out.get("items"), dict):
        out["items"] = strict(out["items"], f"{where}[]")
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(out["additionalProperties"], f"{where}{{}}")
    return out


def refs(schema):
    """The definition names schema refers to, directly."""
    found = []
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found.append(ref[len(REF_PREFIX):])
        for value in schema.values():
            found.extend(refs(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(refs(value))
    return found


def closure(name, definitions):
    """Every definition reachable from name (name included)."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        if current not in definitions:
            sys.exit(f"k8s_json_schemas: dangling $ref to {current}")
        seen.add(current)
        todo.extend(refs(definitions[current]))
    return seen


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        swagger = json.load(f)
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)

    definitions = {}
    for name, schema in swagger["definitions"].items():
        definitions[name] = OVERRIDES.get(name) or strict(schema, name)

    written = 0
    for name, schema in swagger["definitions"].items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
            root = json.loads(json.dumps(definitions[name]))  # deep copy: enums differ per file
            props = root.get("properties", {})
            if "apiVersion" in props:
                props["apiVersion"]["enum"] = [f"{group}/{version}" if group else version]
            if "kind" in props:
                props["kind"]["enum"] = [kind]
            # Its own definition too: a recursive one (JSONSchemaProps) refers back to it.
            root["definitions"] = {n: definitions[n] for n in sorted(closure(name, definitions))}
            # kubeconform's file name: kind, the group's first label, version (KindSuffix).
            suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
            path = os.path.join(out_dir, f"{kind.lower()}{suffix}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(root, f, indent=1, sort_keys=True)
            written += 1
    if written < 100:
        sys.exit(f"k8s_json_schemas: only {written} schemas written; is {sys.argv[1]} the API's swagger.json?")
    print(f"k8s_json_schemas: {written} schemas in {out_dir}")


if __name__ == "__main__":
    main()
