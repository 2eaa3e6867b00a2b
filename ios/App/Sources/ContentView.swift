import SwiftUI
import ZhangbanKit

@MainActor
struct ContentView: View {
    var body: some View {
        TabView {
            TodoView().tabItem { Label("待办 To do", systemImage: "checklist") }
            WalletView().tabItem { Label("证照 Wallet", systemImage: "wallet.pass") }
            ServicesView().tabItem { Label("办事 Services", systemImage: "magnifyingglass") }
            CasesView().tabItem { Label("我的办件 Cases", systemImage: "list.bullet.rectangle") }
            NavigationStack { BackupView() }.tabItem { Label("备份 Backup", systemImage: "externaldrive") }
        }
    }
}

var lang: Lang { Lang.current }

func formatTime(_ unix: Int64) -> String {
    Date(timeIntervalSince1970: TimeInterval(unix)).formatted(date: .abbreviated, time: .shortened)
}
