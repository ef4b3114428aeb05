#!/bin/bash
# Stands in for env.sh of actions/runner v2.33x (src/Misc/layoutroot/env.sh): records PATH in .path and a few toolchain variables in .env, keeping entries already there.

for name in LANG JAVA_HOME ANT_HOME M2_HOME ANDROID_HOME GRADLE_HOME NVM_BIN NVM_PATH LD_LIBRARY_PATH PERL5LIB; do
    if [ -n "${!name}" ] && ! grep -qs "^${name}=" .env; then
        echo "${name}=${!name}" >> .env
    fi
done
[ -f .env ] || touch .env
echo "$PATH" > .path
