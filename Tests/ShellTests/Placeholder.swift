import XCTest

final class PlaceholderShellTests: XCTestCase {
  func testBuilds() {}
}
