"""Stand-in for the one jsonref call W&B's sweeps library makes
(config/schema.py: jsonref.JsonRef.replace_refs(schema)): every
{"$ref": "#/a/b"} replaced by what it points at. Debian has no
python3-jsonref. The schema is recursive (nested parameters hold
parameters), so each reference resolves to one shared object, filled once:
the result may hold cycles, as jsonref's lazy proxies do."""


class JsonRef:
    @staticmethod
    def replace_refs(doc):
        memo = {}

        def target_of(ref):
            node = doc
            for part in ref[2:].split("/"):
                node = node[part]
            return node

        def resolve(node):
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/"):
                    if ref not in memo:
                        target = target_of(ref)
                        memo[ref] = {} if isinstance(target, dict) else None
                        if memo[ref] is None:
                            memo[ref] = resolve(target)
                        else:
                            memo[ref].update(resolve(target))
                    return memo[ref]
                return {k: resolve(v) for k, v in node.items()}
            if isinstance(node, list):
                return [resolve(v) for v in node]
            return node

        return resolve(doc)
