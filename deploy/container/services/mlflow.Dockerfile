# An MLflow tracking server for machines that cannot pull ghcr.io/mlflow/mlflow: the mlflow
# of uv.lock, installed from the wheelhouse image (no network).
ARG FIRSTPITCH_BASE_IMAGE
ARG FIRSTPITCH_WHEELHOUSE
FROM ${FIRSTPITCH_WHEELHOUSE} AS wheelhouse
FROM ${FIRSTPITCH_BASE_IMAGE}
RUN --mount=type=bind,from=wheelhouse,target=/wheelhouse \
    version="$(grep -o '^mlflow==[^ ]*' /wheelhouse/requirements.txt)" \
    && UV_PYTHON_DOWNLOADS=never /wheelhouse/uv venv --python 3.11 /opt/mlflow \
    && VIRTUAL_ENV=/opt/mlflow /wheelhouse/uv pip install --no-cache --no-index \
       --find-links /wheelhouse/wheels "$version" \
    && useradd -r -m -u 1035 mlflow && mkdir -p /mlflow && chown mlflow:mlflow /mlflow
ENV PATH=/opt/mlflow/bin:$PATH
USER mlflow
EXPOSE 5000
CMD ["mlflow", "server", "--host", "0.0.0.0"]
