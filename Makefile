# The two commands a newcomer needs: `make run` (the sandbox) and `make test`.
PORT ?= 8000
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

SANDBOX_FLAGS := --port $(PORT) $(if $(RESET),--reset) $(if $(DEMO),--demo)

.PHONY: run test bench clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# axe-core (package.json) for the browser tests' accessibility checks.
NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	npm ci --silent
	touch $(NODE_STAMP)

run: $(STAMP)
	$(PY) -m infra.local.sandbox $(SANDBOX_FLAGS)

test: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/cold_start.py
	$(PY) bench/matching.py
	$(PY) bench/tick.py
	$(PY) bench/inbound.py
	$(PY) bench/approval.py
	$(PY) bench/reply_corpus.py
	$(PY) bench/sign_in_timing.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis

# Deploying to AWS, one stack per stage (docs/deploy.md). STAGE is a stage of
# .chalice/config.json with an "infra" block: dev or prod.
#   make package STAGE=prod   offline: build/prod/package/sam.json (linted) + deployment.zip,
#                             and .chalice/policy-prod.json regenerated from the code
#   make deploy STAGE=prod ARTIFACT_BUCKET=my-bucket   package, then the AWS CLI deploys it
#   make redrive STAGE=prod   put what failed 3 times (the dead-letter queues) back in its queue
#   make restore STAGE=prod AT=2026-11-20T09:00:00Z   stop the writers, restore every table, start them
#   make budget EMAIL=treasurer@example.org LIMIT=5   a monthly AWS Budgets alarm for the account
STAGE ?= dev
BUILD := build/$(STAGE)
AWS ?= aws
STAGE_NAME = $(shell $(PY) -m infra.build_template name $(1) --stage $(STAGE))

.PHONY: package deploy signing-key activate-receipt-rules redrive restore budget

package: $(STAMP)
	$(PY) -m infra.build_template package --stage $(STAGE)
	$(VENV)/bin/cfn-lint $(BUILD)/package/sam.json

deploy: package
	@test -n "$(ARTIFACT_BUCKET)" || { echo "make deploy needs ARTIFACT_BUCKET=<an S3 bucket of yours for deployment packages> (docs/deploy.md)"; exit 2; }
	$(AWS) cloudformation package --template-file $(BUILD)/package/sam.json --s3-bucket $(ARTIFACT_BUCKET) \
		--s3-prefix $(call STAGE_NAME,stack) --use-json --output-template-file $(BUILD)/packaged.json
	$(AWS) cloudformation deploy --template-file $(BUILD)/packaged.json --stack-name $(call STAGE_NAME,stack) \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
		--tags app=mentoring stage=$(STAGE)
	$(AWS) cloudformation describe-stacks --stack-name $(call STAGE_NAME,stack) --query "Stacks[0].Outputs" --output table

# One-time steps CloudFormation cannot do (docs/deploy.md): the signing key is an
# SSM SecureString, created once and never overwritten; the receipt rule set must be
# made the account's active one (this replaces any other active rule set in the region).
signing-key: $(STAMP)
	$(AWS) ssm put-parameter --type SecureString --name "$(call STAGE_NAME,signing-key-parameter)" \
		--value "$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))')"

activate-receipt-rules: $(STAMP)
	$(AWS) ses set-active-receipt-rule-set --rule-set-name "$(call STAGE_NAME,rule-set)"

# Operations (docs/deploy.md): the way back from a failure, and a spending alarm.
redrive: $(STAMP)
	$(PY) -m infra.redrive --stage $(STAGE)

restore: $(STAMP)
	@test -n "$(AT)" || { echo "make restore needs AT=<the UTC moment to go back to, like 2026-11-20T09:00:00Z> (docs/deploy.md)"; exit 2; }
	$(PY) -m infra.restore --stage $(STAGE) --at $(AT)

LIMIT ?= 5
budget:
	@test -n "$(EMAIL)" || { echo "make budget needs EMAIL=<who is told> (and LIMIT=<dollars a month>, default 5)"; exit 2; }
	$(AWS) budgets create-budget --account-id "$$($(AWS) sts get-caller-identity --query Account --output text)" \
		--budget '{"BudgetName":"mentoring","BudgetLimit":{"Amount":"$(LIMIT)","Unit":"USD"},"TimeUnit":"MONTHLY","BudgetType":"COST"}' \
		--notifications-with-subscribers '[{"Notification":{"NotificationType":"ACTUAL","ComparisonOperator":"GREATER_THAN","Threshold":80,"ThresholdType":"PERCENTAGE"},"Subscribers":[{"SubscriptionType":"EMAIL","Address":"$(EMAIL)"}]},{"Notification":{"NotificationType":"FORECASTED","ComparisonOperator":"GREATER_THAN","Threshold":100,"ThresholdType":"PERCENTAGE"},"Subscribers":[{"SubscriptionType":"EMAIL","Address":"$(EMAIL)"}]}]'
