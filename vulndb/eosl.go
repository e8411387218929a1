package vulndb

import (
	"time"

	"github.com/patchloop/patchloop/pkgdb"
)

// eoslTable is the end of security support of one distro's releases: the
// last day on which fixes are published to the public archive an image
// can install from. Dates are UTC days; a release is EOSL from the day
// after.
type eoslTable struct {
	key   func(versionID string) (string, error)
	dates map[string]string
}

// eoslTables holds the dates, as published by each distro. The Debian and
// Ubuntu rows are checked by the tests against distro-info-data
// (/usr/share/distro-info/*.csv), maintained by both distros.
var eoslTables = map[string]eoslTable{
	// Debian: https://wiki.debian.org/DebianReleases and
	// https://wiki.debian.org/LTS. We use the end of LTS, not of the
	// security team's support, because LTS fixes are published in the same
	// <codename>-security suite and are installable by anyone. (Security
	// team support ended: 9 2020-07-18, 10 2022-09-10, 11 2024-08-14, 12
	// 2026-07-11; 13's is expected about 2028-08-09.) ELTS (Freexian, paid)
	// is not counted.
	"debian": {key: majorVersion, dates: map[string]string{
		"7":  "2018-05-31",
		"8":  "2020-06-30",
		"9":  "2022-06-30",
		"10": "2024-06-30",
		"11": "2026-08-31",
		"12": "2028-06-30",
		"13": "2030-06-30",
	}},
	// Ubuntu: end of standard support, https://ubuntu.com/about/release-cycle
	// (ESM and Pro need a subscription and are not counted), with the days
	// of Debian's and Ubuntu's distro-info-data (the "eol" column), which
	// the tests check this table against.
	"ubuntu": {key: majorMinorVersion, dates: map[string]string{
		"12.04": "2017-04-28",
		"12.10": "2014-05-16",
		"13.04": "2014-01-27",
		"13.10": "2014-07-17",
		"14.04": "2019-04-25",
		"14.10": "2015-07-23",
		"15.04": "2016-02-04",
		"15.10": "2016-07-28",
		"16.04": "2021-04-30",
		"16.10": "2017-07-20",
		"17.04": "2018-01-13",
		"17.10": "2018-07-19",
		"18.04": "2023-05-31",
		"18.10": "2019-07-18",
		"19.04": "2020-01-23",
		"19.10": "2020-07-17",
		"20.04": "2025-05-29",
		"20.10": "2021-07-22",
		"21.04": "2022-01-20",
		"21.10": "2022-07-14",
		"22.04": "2027-06-01",
		"22.10": "2023-07-20",
		"23.04": "2024-01-25",
		"23.10": "2024-07-11",
		"24.04": "2029-05-31",
		"24.10": "2025-07-10",
		"25.04": "2026-01-15",
		"25.10": "2026-07-09",
		"26.04": "2031-05-29",
	}},
	// Alpine: "end of support" column of https://alpinelinux.org/releases/
	// (main repository, two years per branch).
	"alpine": {key: majorMinorVersion, dates: map[string]string{
		"3.10": "2021-05-01",
		"3.11": "2021-11-01",
		"3.12": "2022-05-01",
		"3.13": "2022-11-01",
		"3.14": "2023-05-01",
		"3.15": "2023-11-01",
		"3.16": "2024-05-23",
		"3.17": "2024-11-22",
		"3.18": "2025-05-09",
		"3.19": "2025-11-01",
		"3.20": "2026-04-01",
		"3.21": "2026-11-01",
		"3.22": "2027-05-01",
		"3.23": "2027-11-01",
	}},
	// Red Hat Enterprise Linux: end of Maintenance Support,
	// https://access.redhat.com/support/policy/updates/errata (Extended
	// Life Cycle Support is paid and not counted).
	"rhel": {key: majorVersion, dates: map[string]string{
		"7": "2024-06-30", "8": "2029-05-31", "9": "2032-05-31", "10": "2035-05-31",
	}},
	// CentOS Linux: https://www.centos.org/centos-linux-eol/.
	"centos": {key: majorVersion, dates: map[string]string{
		"7": "2024-06-30", "8": "2021-12-31",
	}},
	// Rocky Linux: https://wiki.rockylinux.org/rocky/version/ (end of
	// security support).
	"rocky": {key: majorVersion, dates: map[string]string{
		"8": "2029-05-31", "9": "2032-05-31",
	}},
	// AlmaLinux: https://wiki.almalinux.org/release-notes/ (security
	// support end).
	"almalinux": {key: majorVersion, dates: map[string]string{
		"8": "2029-03-01", "9": "2032-05-31",
	}},
	// Oracle Linux: Premier Support end, Oracle Lifetime Support Policy.
	"ol": {key: majorVersion, dates: map[string]string{
		"7": "2024-12-31", "8": "2029-07-31", "9": "2032-06-30",
	}},
	// Amazon Linux: https://aws.amazon.com/amazon-linux-2/faqs/ and the
	// AL2023 release cadence page.
	"amzn": {key: majorVersion, dates: map[string]string{
		"2": "2026-06-30", "2023": "2029-06-30",
	}},
}

// EOSL reports whether os is past its end of security support at now,
// and the last day of support. A distro or release missing from the table
// (Debian testing, a future release, an unknown distro) is not EOSL, and
// the returned date is zero, meaning unknown.
func EOSL(os pkgdb.OS, now time.Time) (bool, time.Time) {
	end, ok := EOSLDate(os)
	if !ok {
		return false, time.Time{}
	}
	return !now.Before(end.AddDate(0, 0, 1)), end
}

// EOSLDate returns the last day of security support of os (midnight UTC),
// and false when the table does not know os.
func EOSLDate(os pkgdb.OS) (time.Time, bool) {
	t, ok := eoslTables[os.ID]
	if !ok {
		return time.Time{}, false
	}
	k, err := t.key(os.VersionID)
	if err != nil {
		return time.Time{}, false
	}
	d, ok := t.dates[k]
	if !ok {
		return time.Time{}, false
	}
	end, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return time.Time{}, false
	}
	return end, true
}
