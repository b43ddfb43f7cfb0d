#!/usr/bin/env bash
# A Jenkins stage with a temporary AWS session: fetch an STS session from
# Quartermaster, export it as the standard AWS_* variables, run the command.
# The session dies with its TTL; nothing long-lived is stored in Jenkins.
#
# Jenkinsfile:
#   stage('Deploy') {
#     environment { QM_ADDR = 'https://qm.internal:8200'; QM_AWS_ROLE = 'deploy' }
#     steps {
#       withCredentials([string(credentialsId: 'qm-token', variable: 'QM_TOKEN')]) {
#         sh 'docs/recipes/jenkins-aws-stage.sh aws s3 sync build/ s3://my-bucket/'
#       }
#     }
#   }
#
# QM_ADDR, QM_TOKEN: where Quartermaster is and the job's token.
# QM_AWS_ROLE (default deploy), QM_AWS_TTL (default 15m), QM_AWS_MOUNT (default aws).
set -euo pipefail
session=$(qm write -format=json "${QM_AWS_MOUNT:-aws}/sts/${QM_AWS_ROLE:-deploy}" ttl="${QM_AWS_TTL:-15m}")
field() { printf '%s' "$session" | python3 -c "import json, sys; print(json.load(sys.stdin)['data']['$1'])"; }
AWS_ACCESS_KEY_ID=$(field access_key)
AWS_SECRET_ACCESS_KEY=$(field secret_key)
AWS_SESSION_TOKEN=$(field session_token)
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
unset session
exec "$@"
