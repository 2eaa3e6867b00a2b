//! Applications (办件): lifecycle, timeline, deadlines, ratings and complaints.
