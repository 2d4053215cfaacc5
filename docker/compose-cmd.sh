# Sourced by the docker scripts: sets the array `compose` to Compose v2 (`docker compose`) or,
# where only v1 is installed, `docker-compose`; exits if neither is.
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  echo "neither 'docker compose' nor 'docker-compose' is installed" >&2
  exit 1
fi
