# stylebatch on a GPU Ray cluster (KubeRay or plain `ray start`): Ray, CUDA torch, stylebatch,
# and the VGG-19 ImageNet weights baked in, so no pod downloads anything at run time.
#
#   docker build -t REGISTRY/stylebatch:0.1.0 .
#
# The build machine needs internet (PyPI, download.pytorch.org). Without it: build with
# --build-arg WEIGHTS=none, and give the driver a weights file (`--weights FILE` or
# STYLEBATCH_WEIGHTS on the head pod): the driver ships the features to every worker through
# Ray's object store. The Ray version must be the cluster's (rayVersion in deploy/*.yaml).
ARG RAY_VERSION=2.60.0
FROM rayproject/ray:${RAY_VERSION}-py311-gpu

ARG RAY_VERSION
ARG WEIGHTS=download
WORKDIR /home/ray/stylebatch
COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users stylebatch ./stylebatch
COPY --chown=ray:users pipelines ./pipelines
COPY --chown=ray:users manifests ./manifests
# "ray[default]" gives the head the jobs API (ray job submit, RayJob) at the image's Ray version.
# The storage extras (s3fs, gcsfs, adlfs) let manifests, inputs and outputs be bucket URLs.
RUN pip install --no-cache-dir ".[s3,gcs,azure]" "ray[default]==${RAY_VERSION}"
# torchvision's ImageNet VGG-19 into the torch cache of the image's user, checked.
RUN if [ "$WEIGHTS" = download ]; then stylebatch weights download && stylebatch weights verify; fi
# Pods never try the network for weights.
ENV STYLEBATCH_OFFLINE=1
