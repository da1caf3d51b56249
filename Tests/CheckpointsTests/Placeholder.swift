import XCTest

final class PlaceholderCheckpointsTests: XCTestCase {
  func testBuilds() {}
}
