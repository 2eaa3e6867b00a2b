import SwiftUI
import ZhangbanKit

@MainActor
struct ContentView: View {
    // The app's own words are in Localizable.xcstrings (en, zh-Hans): SwiftUI looks a literal up there in
    // the device's language; the core's texts come in both languages from the core.
    var body: some View {
        TabView {
            TodoView().tabItem { Label("To do", systemImage: "checklist") }
            WalletView().tabItem { Label("Wallet", systemImage: "wallet.pass") }
            ServicesView().tabItem { Label("Services", systemImage: "magnifyingglass") }
            CasesView().tabItem { Label("My cases", systemImage: "list.bullet.rectangle") }
            NavigationStack { BackupView() }.tabItem { Label("Backup", systemImage: "externaldrive") }
        }
    }
}

var lang: Lang { Lang.current }

func formatTime(_ unix: Int64) -> String {
    Date(timeIntervalSince1970: TimeInterval(unix)).formatted(date: .abbreviated, time: .shortened)
}
