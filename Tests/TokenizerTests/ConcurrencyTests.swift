// One tokenizer shared by several threads (caption batches, data loading): the word cache is behind a
// lock, so concurrent encodes must give the reference ids exactly as sequential ones do.
import Foundation
import XCTest

@testable import FlrTokenizer

final class ConcurrencyTests: XCTestCase {
  func testConcurrentEncodesMatchTheReference() throws {
    // A fresh tokenizer, so the threads race to fill an empty cache.
    let tok = try BartTokenizer(folder: TokenizerFixtures.folder)
    let items = try TokenizerFixtures.lines("encode.jsonl", as: TokenizerFixtures.EncodeItem.self)
    let threads = 4
    let mismatches = ManagedCounter()
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      for (n, item) in items.enumerated() where n % threads == t || n % 3 == 0 {
        if tok.encode(item.text) != item.ids { mismatches.add() }
      }
    }
    XCTAssertEqual(mismatches.value, 0)
  }
}

private final class ManagedCounter: @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0
  func add() { lock.withLock { count += 1 } }
  var value: Int { lock.withLock { count } }
}
