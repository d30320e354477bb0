from ecsguard.cli import main

raise SystemExit(main())
