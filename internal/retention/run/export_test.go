package run

// SetBeforeApply sets the hook called between evaluation and apply.
func (s *Service) SetBeforeApply(fn func(repo string)) { s.beforeApply = fn }
