# The withdrawguard worker image used by docker-compose.yml (profile "worker").
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
EXPOSE 6066
CMD ["withdrawguard", "worker"]
