package gpu

// Names of the Sample fields, as they appear in Sample.Unsupported and in
// errors that name the field a driver call failed on.
const (
	FieldUtilization     = "utilization"
	FieldMemory          = "memory"
	FieldTemperature     = "temperature"
	FieldPower           = "power"
	FieldPowerLimit      = "power_limit"
	FieldSMClock         = "sm_clock"
	FieldThrottleReasons = "throttle_reasons"
	FieldECCUncorrected  = "ecc_uncorrected"
	FieldXidEvents       = "xid_events"
)

// Names of clock throttle reasons, as they appear in Sample.ThrottleReasons.
const (
	ThrottleGPUIdle             = "gpu_idle"
	ThrottleApplicationsClocks  = "applications_clocks"
	ThrottleSWPowerCap          = "sw_power_cap"
	ThrottleHWSlowdown          = "hw_slowdown"
	ThrottleSyncBoost           = "sync_boost"
	ThrottleSWThermal           = "sw_thermal"
	ThrottleHWThermal           = "hw_thermal"
	ThrottleHWPowerBrake        = "hw_power_brake"
	ThrottleDisplayClockSetting = "display_clock"
	ThrottleBoardLimit          = "board_limit"
	ThrottleReliability         = "reliability"
)

// Supports reports whether the field named f was read on this sample, that
// is, whether it is absent from s.Unsupported.
func (s *Sample) Supports(f string) bool {
	for _, u := range s.Unsupported {
		if u == f {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of s; a nil s gives nil.
func (s *Sample) Clone() *Sample {
	if s == nil {
		return nil
	}
	c := *s
	if s.ThrottleReasons != nil {
		c.ThrottleReasons = append([]string{}, s.ThrottleReasons...)
	}
	if s.Unsupported != nil {
		c.Unsupported = append([]string{}, s.Unsupported...)
	}
	return &c
}
