# One image for both roles: `python -m api` or `python -m worker`.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY worker ./worker
COPY shared ./shared
COPY samples ./samples
RUN pip install --no-cache-dir .
RUN useradd --system --home /app readout
USER readout
ENV READOUT_HOST=0.0.0.0 READOUT_PORT=8000
EXPOSE 8000
CMD ["python", "-m", "api"]
