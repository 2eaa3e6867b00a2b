//! Working-day calendar: official holidays and adjusted workdays (调休).
