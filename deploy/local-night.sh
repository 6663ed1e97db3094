#!/bin/bash
# A cluster night on one machine, to try the recipe without a cloud: a loopback S3 (moto, from
# the dev extra), a one-node Ray cluster with the jobs API ("ray[default]"), and the same
# `ray job submit -- stylebatch run s3://... --out s3://...` a real night uses. Random weights.
#   bash deploy/local-night.sh
set -u
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH
PORT=5123
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export OMP_NUM_THREADS=1 RAY_AUTH_MODE=disabled
moto_server -H 127.0.0.1 -p $PORT > /tmp/moto.log 2>&1 &
MOTO=$!
sleep 3
python - <<'PY'
import io, fsspec, numpy as np
from PIL import Image
fs = fsspec.filesystem("s3"); fs.mkdir("nightb")
def png(seed, size=48):
    rng = np.random.default_rng(seed)
    b = io.BytesIO(); Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8)).resize((size, size * 3 // 4)).save(b, "PNG"); return b.getvalue()
for i in range(4): fs.pipe_file(f"nightb/photos/p{i}.png", png(i))
fs.pipe_file("nightb/style.png", png(99))
fs.pipe_file("nightb/night.csv", ("content,style\n" + "".join(f"photos/p{i}.png,style.png\n" for i in range(4))).encode())
PY
ray start --head --port=6399 --dashboard-host=127.0.0.1 --dashboard-port=8265 --num-cpus=2 --num-gpus=0 --include-dashboard=true > /tmp/raystart.log 2>&1
echo "ray start rc=$?"
time ray job submit --address http://127.0.0.1:8265 -- stylebatch run s3://nightb/night.csv --out s3://nightb/styled/night1/ --weights random --size 48 --steps 5 --set scales=1 --device cpu --workers 2
echo "submit rc=$?"
python -c "
import fsspec; fs = fsspec.filesystem('s3'); print(sorted(fs.find('nightb/styled')))"
ray stop --force > /dev/null 2>&1
kill $MOTO
