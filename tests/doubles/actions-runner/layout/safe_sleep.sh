#!/bin/bash
# Stands in for safe_sleep.sh of actions/runner v2.33x (src/Misc/layoutroot/safe_sleep.sh): sleeps N seconds.
sleep "$1"
