// Suggestions for misspelt command and option names (Damerau-Levenshtein distance).

/// Edit distance with adjacent transpositions, so `baems` is one edit from `beams`.
func editDistance(_ a: String, _ b: String) -> Int {
  let a = Array(a.lowercased()), b = Array(b.lowercased())
  if a.isEmpty { return b.count }
  if b.isEmpty { return a.count }
  var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
  for i in 0...a.count { table[i][0] = i }
  for j in 0...b.count { table[0][j] = j }
  for i in 1...a.count {
    for j in 1...b.count {
      let cost = a[i - 1] == b[j - 1] ? 0 : 1
      table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
      if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
        table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
      }
    }
  }
  return table[a.count][b.count]
}

/// The closest candidate if it is close enough to be a plausible typo (a third of the word's
/// length, at least 1, at most 3 edits), or one that the word is a prefix of.
func closestMatch(to word: String, among candidates: [String]) -> String? {
  let limit = min(3, max(1, word.count / 3))
  let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= limit }
  if let best = scored.min(by: { $0.1 < $1.1 }) { return best.0 }
  let prefixed = candidates.filter { $0.lowercased().hasPrefix(word.lowercased()) }
  return word.count >= 2 && prefixed.count == 1 ? prefixed[0] : nil
}
