from tweetops.cli import main

raise SystemExit(main())
