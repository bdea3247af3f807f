package testenv

// PayloadKeys is the payload key set of the test suites (a fixed test key:
// histories the e2e suite records for the replay test are encrypted with
// it).
const PayloadKeys = "e2e:ZTJlLXBheWxvYWQta2V5LWUyZS1wYXlsb2FkLWtleSE="
