// Tokenizer speed (10,000 captions of 75 words should take well under a second) and load time,
// on Florence-2's tokenizer.json as committed in Tests/Fixtures/tokenizer.
import FlrTokenizer
import Foundation

let tokenizerSuite = BenchSuite(name: "tokenizer", summary: "BART BPE: load tokenizer.json, encode 10k captions") {
  let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Tests/Fixtures/tokenizer").standardized
  guard let tok = try? BartTokenizer(folder: folder) else {
    print("tokenizer: cannot load \(folder.path)")
    return
  }
  Bench.measure("load", shape: "tokenizer.json + 1024 added") { _ = try? BartTokenizer(folder: folder) }

  // Captions of 75 words from a 60-word vocabulary (a fixed LCG, so every run encodes the same text).
  let words =
    ("a man woman dog cat car red green blue sitting standing on in the of with near front back "
    + "large small tree building street sky water beach white black parked holding wearing table chair "
    + "window door grass field mountain cloud sign people group two three young old looking walking").split(
      separator: " ")
  var state: UInt64 = 42
  func next() -> Int {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Int(state >> 33)
  }
  let captions: [String] = (0..<10_000).map { _ in
    (0..<75).map { i in
      let w = String(words[next() % words.count])
      return (i == 0 ? w.capitalized : w) + (next() % 12 == 0 ? "," : "")
    }.joined(separator: " ") + "."
  }
  Bench.measure("encode", shape: "10000 captions x 75 words") {
    for c in captions { _ = tok.encode(c) }
  }
  let ids = captions.prefix(1000).map { tok.encode($0) }
  Bench.measure("decode", shape: "1000 captions x 75 words") {
    for i in ids { _ = tok.decode(i) }
  }
}
