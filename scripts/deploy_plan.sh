#!/usr/bin/env bash
# Print, in dependency order, the `aws cloudformation deploy` commands for the stacks in infra/.
# It only prints: it never calls aws. Review, then paste (or pipe into `bash`).
#
#   RUN_ID=1234567890 AWS_REGION=eu-west-1 AWS_ACCOUNT_ID=123456789012 \
#     GITHUB_REPOSITORY=owner/tweetops SUBNET_IDS=subnet-a,subnet-b SECURITY_GROUP_IDS=sg-c \
#     scripts/deploy_plan.sh
#
# RUN_ID is the retrain workflow's run id (github.run_id): the workflow pushes
# <account>.dkr.ecr.<region>.amazonaws.com/<ECR_REPOSITORY>:<RUN_ID>, which is ImageUri here.
# Unset variables become <placeholders> (listed on stderr); ECR_REPOSITORY defaults to tweetops.
set -euo pipefail

RUN_ID="${RUN_ID:-<run_id>}"
AWS_REGION="${AWS_REGION:-<aws_region>}"
AWS_ACCOUNT_ID="${AWS_ACCOUNT_ID:-<aws_account_id>}"
ECR_REPOSITORY="${ECR_REPOSITORY:-tweetops}"
GITHUB_REPOSITORY="${GITHUB_REPOSITORY:-<owner>/<name>}"
SUBNET_IDS="${SUBNET_IDS:-<subnet-id>,<subnet-id>}"
SECURITY_GROUP_IDS="${SECURITY_GROUP_IDS:-<security-group-id>}"
STACK_PREFIX="tweetops"

IMAGE_URI="${AWS_ACCOUNT_ID}.dkr.ecr.${AWS_REGION}.amazonaws.com/${ECR_REPOSITORY}:${RUN_ID}"
DATA_LAKE_STACK="${STACK_PREFIX}-data-lake"

placeholders=()
for name in RUN_ID AWS_REGION AWS_ACCOUNT_ID GITHUB_REPOSITORY SUBNET_IDS SECURITY_GROUP_IDS; do
  case "${!name}" in *"<"*) placeholders+=("$name") ;; esac
done
if [ ${#placeholders[@]} -gt 0 ]; then
  echo "deploy_plan: placeholders left for: ${placeholders[*]} (set them in the environment)" >&2
fi

# deploy NAME [Key=Value ...]: one command for infra/NAME.yaml, stack tweetops-NAME.
deploy() {
  local name="$1"
  shift
  local line="aws cloudformation deploy --template-file infra/${name}.yaml --stack-name ${STACK_PREFIX}-${name}"
  if [ $# -gt 0 ]; then
    line+=" --parameter-overrides"
    local pair
    for pair in "$@"; do
      line+=" '${pair}'"
    done
  fi
  line+=" --capabilities CAPABILITY_NAMED_IAM --region '${AWS_REGION}' --no-fail-on-empty-changeset"
  printf '%s\n' "$line"
}

echo "# 1. Data lake: bucket (raw/ processed/ predictions/ artifacts/) and its KMS key; the others import its exports."
deploy data-lake
echo "# 2. ECR repository the retrain workflow pushes to."
deploy ecr "EcrRepository=${ECR_REPOSITORY}"
echo "# 3. GitHub OIDC provider and deploy role, trusted only for ${GITHUB_REPOSITORY}."
deploy github-oidc "GitHubRepository=${GITHUB_REPOSITORY}" "EcrRepository=${ECR_REPOSITORY}" \
  "DataLakeStack=${DATA_LAKE_STACK}"
echo "# Then set the GitHub repository variables: AWS_ROLE_ARN = stack ${STACK_PREFIX}-github-oidc output RoleArn,"
echo "# AWS_REGION = ${AWS_REGION}, ECR_REPOSITORY = ${ECR_REPOSITORY}; run the retrain workflow; RUN_ID = its run id."
echo "# 4. AWS Batch (Fargate) for batch-predict array jobs, running ${IMAGE_URI}."
deploy batch "ImageUri=${IMAGE_URI}" "RunId=${RUN_ID}" "EcrRepository=${ECR_REPOSITORY}" \
  "DataLakeStack=${DATA_LAKE_STACK}" "SubnetIds=${SUBNET_IDS}" "SecurityGroupIds=${SECURITY_GROUP_IDS}"
echo "# 5. SageMaker endpoint serving ${IMAGE_URI} (SageMaker runs: docker run IMAGE serve)."
deploy sagemaker "ImageUri=${IMAGE_URI}" "RunId=${RUN_ID}" "EcrRepository=${ECR_REPOSITORY}" \
  "DataLakeStack=${DATA_LAKE_STACK}"
