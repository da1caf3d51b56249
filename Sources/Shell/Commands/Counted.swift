// Counts in messages: `1 epoch`, `2 epochs`, `1,621,580 parameters`.

/// `count` and `noun`, plural unless the count is 1, with thousands grouped.
func counted(_ count: Int, _ noun: String, plural: String? = nil) -> String {
  "\(AdapterActions.grouped(count)) \(count == 1 ? noun : plural ?? noun + "s")"
}
