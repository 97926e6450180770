# stepline in a small image: the wheel built from this checkout, installed on python:3.11-slim, run as a user
# without privileges, the store in a volume. See docs/operations.md.
#
#   docker build -t stepline .
#   docker run -p 8083:8083 -v stepline-data:/data \
#       -v "$PWD/credentials:/etc/stepline/credentials:ro" -e STEPLINE_CREDENTIALS=/etc/stepline/credentials stepline
#
# Serving on 0.0.0.0 needs credentials (STEPLINE_CREDENTIALS or --credentials); without them stepline refuses to
# start, saying so, unless --allow-unauthenticated is given.

FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir build==1.6.1 && python -m build --wheel --outdir /dist

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=wheel /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin stepline \
    && mkdir /data && chown stepline:stepline /data
USER stepline
WORKDIR /data
VOLUME /data
ENV STEPLINE_DB=/data/stepline.db
EXPOSE 8083
ENTRYPOINT ["stepline"]
CMD ["serve", "--host", "0.0.0.0"]
