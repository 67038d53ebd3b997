#!/bin/sh
# Makes the TLS test certificates in DIR (made at test time, never
# committed): a CA, a server certificate for localhost/127.0.0.1/::1, an
# expired one, one for another host, a client certificate, and a second CA
# that signed nothing we trust.  Prints nothing on success; exits 77 when
# openssl is missing (TAP "skip").
set -eu
dir=$1
command -v openssl >/dev/null 2>&1 || exit 77
mkdir -p "$dir"
cd "$dir"
q() { "$@" >/dev/null 2>&1; }
key() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
key ca.key
q openssl req -x509 -new -key ca.key -days 2 -subj /CN=dynthrift-test-ca -out ca.pem
key other-ca.key
q openssl req -x509 -new -key other-ca.key -days 2 -subj /CN=dynthrift-other-ca -out other-ca.pem
# sign NAME CN SAN [STARTDATE ENDDATE]
sign() {
    key "$1.key"
    q openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$3" > "$1.ext"
    if [ $# -gt 3 ]; then
        # openssl ca is the one command that takes explicit dates.
        mkdir -p cadb
        : > cadb/index.txt
        printf '01\n' > cadb/serial
        cat > cadb/ca.cnf <<CNF
[ca]
default_ca = t
[t]
database = cadb/index.txt
serial = cadb/serial
new_certs_dir = cadb
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = p
copy_extensions = none
[p]
commonName = supplied
CNF
        q openssl ca -batch -config cadb/ca.cnf -in "$1.csr" -out "$1.pem" -notext \
            -startdate "$4" -enddate "$5" -extfile "$1.ext"
    else
        q openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile "$1.ext" -out "$1.pem"
    fi
}
sign server localhost 'DNS:localhost,IP:127.0.0.1,IP:::1'
sign wronghost elsewhere.example 'DNS:elsewhere.example'
sign expired localhost 'DNS:localhost,IP:127.0.0.1' 20200101000000Z 20200102000000Z
# Apache's Python TSSLServerSocket checks that a client certificate names
# the client's address.
sign client dynthrift-test-client 'DNS:client,IP:127.0.0.1'
