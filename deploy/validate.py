"""Validate KubeRay manifests against the CRDs' openAPIV3Schema (what the API server checks).

    python deploy/validate.py ray.io_rayjobs.yaml ray.io_rayclusters.yaml deploy/*.yaml

The two CRD files come from KubeRay (ray-operator/config/crd/bases in github.com/ray-project/kuberay,
or `kubectl get crd rayjobs.ray.io -o yaml`). Needs PyYAML and jsonschema (Ray depends on both).
"""

import sys

import jsonschema
import yaml


def schema(crd_path):
    crd = yaml.safe_load(open(crd_path))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return crd["spec"]["names"]["kind"], version["schema"]["openAPIV3Schema"]


kinds = dict(schema(p) for p in sys.argv[1:3])
bad = 0
for path in sys.argv[3:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") not in kinds:
            continue
        v = jsonschema.Draft7Validator(kinds[doc["kind"]])
        errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
        for e in errors:
            print(f"{path}: {doc['kind']} {'/'.join(map(str, e.path))}: {e.message}")
        bad += len(errors)
        print(f"{path}: {doc['kind']} {doc['metadata']['name']}: {len(errors)} schema errors")
sys.exit(1 if bad else 0)
