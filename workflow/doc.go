// Package workflow runs continuous patching as River jobs: a scheduler
// inserts cssc-trigger-workflow at each workflow's slot, the trigger selects
// images and queues one cssc-scan-image per image, and a scan with fixable
// vulnerabilities queues cssc-patch-image. Every task run is recorded with its
// status, log and result so that the CLI and the daemon can list, cancel and
// explain them.
package workflow
