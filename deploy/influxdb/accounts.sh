# InfluxDB accounts of coldchain's clients, each with the least right it needs on the
# database $INFLUXDB_DB. compose.yaml mounts this file into /docker-entrypoint-initdb.d:
# at the first start of an empty data volume, the influxdb image creates the admin
# account ($INFLUXDB_ADMIN_USER) and the database, then runs this file with bash.
#
# Run it yourself to lock a database that has run without authentication, or to give
# the accounts the passwords the environment holds now (docs/security.md):
#
#   docker compose exec influxdb bash /docker-entrypoint-initdb.d/accounts.sh
#
# It makes the admin account while there is none (InfluxDB lets the first admin be
# made without logging in), and the database if it is missing; both are no-ops after
# the image's first start. InfluxDB 1.x grants per database, not per measurement: READ,
# WRITE or ALL (both). tests/integration/test_influx_security.py runs this file against
# a real influxd, and tests/unit/test_compose.py checks the table below against
# compose.yaml.

# account  password variable         right on $INFLUXDB_DB
coldchain_accounts='
ingest     INFLUX_INGEST_PASSWORD    ALL
alerts     INFLUX_ALERTS_PASSWORD    ALL
reports    INFLUX_REPORTS_PASSWORD   READ
grafana    INFLUX_GRAFANA_PASSWORD   READ
'

# One InfluxQL statement as the admin; prints InfluxDB's answer, fails on an error in it.
# The image's init runs its temporary server on 127.0.0.1:$INFLUXDB_INIT_PORT (8086).
coldchain_influxql() {
    local answer
    answer=$(curl -sS --fail-with-body -u "$INFLUXDB_ADMIN_USER:$INFLUXDB_ADMIN_PASSWORD" \
        --data-urlencode "q=$1" "http://127.0.0.1:${INFLUXDB_INIT_PORT:-8086}/query" 2>&1)
    local status=$?
    echo "$answer"
    [[ $status == 0 && $answer != *'"error"'* ]]
}

# The text as an InfluxQL string literal. InfluxQL strings cannot hold a line break.
coldchain_string() {
    if [[ $1 == *$'\n'* ]]; then
        echo "a password must not contain a line break" >&2
        return 1
    fi
    local text=${1//\\/\\\\}
    printf "'%s'" "${text//\'/\\\'}"
}

# Create the account, or give the existing one the password; then exactly its right.
coldchain_account() {
    local name=$1 variable=$2 right=$3 literal answer
    if [[ -z ${!variable} ]]; then
        echo "$variable is empty: set it before the first start (docs/security.md)" >&2
        return 1
    fi
    literal=$(coldchain_string "${!variable}") || return 1
    if ! answer=$(coldchain_influxql "CREATE USER \"$name\" WITH PASSWORD $literal"); then
        if [[ $answer != *'user already exists'* ]]; then
            echo "creating InfluxDB account $name failed: $answer" >&2
            return 1
        fi
        answer=$(coldchain_influxql "SET PASSWORD FOR \"$name\" = $literal") ||
            { echo "setting the password of $name failed: $answer" >&2; return 1; }
    fi
    answer=$(coldchain_influxql "REVOKE ALL PRIVILEGES FROM \"$name\"") &&
        answer=$(coldchain_influxql "GRANT $right ON \"$INFLUXDB_DB\" TO \"$name\"") ||
        { echo "granting $right to $name failed: $answer" >&2; return 1; }
    echo "InfluxDB account $name: $right on $INFLUXDB_DB"
}

coldchain_make_accounts() {
    local name variable right answer literal
    literal=$(coldchain_string "$INFLUXDB_ADMIN_PASSWORD") || return 1
    answer=$(coldchain_influxql \
        "CREATE USER \"$INFLUXDB_ADMIN_USER\" WITH PASSWORD $literal WITH ALL PRIVILEGES") &&
        answer=$(coldchain_influxql "CREATE DATABASE \"$INFLUXDB_DB\"") ||
        { echo "InfluxDB refuses the admin account $INFLUXDB_ADMIN_USER: $answer" >&2; return 1; }
    while read -r name variable right; do
        if [[ -n $name ]]; then
            coldchain_account "$name" "$variable" "$right" || return 1
        fi
    done <<<"$coldchain_accounts"
}

coldchain_make_accounts
